"""The scheduler: `step(event) -> actions`, a deterministic function of the
layout, the state and the event. No I/O and no clock: time comes in events.

Handlers apply an event to the state; then one pass over every queue
(`passes.py`) decides merges, builds, landings and reports.
"""
from __future__ import annotations

from typing import Callable

from ..config.model import Layout
from . import events as ev
from . import jobgraph
from .actions import Action, Report
from .lifecycle import cancel_builds, describe, reset, result_record
from .passes import process
from .state import ChangeQueue, Item, MergeState, PipelineState, State
from .types import BuildState, Change, ItemResult
from .window import grow


class Scheduler:
    """Owns the State; the same code runs in the engine and the simulator."""

    def __init__(self, layout: Layout, slots: int, state: State | None = None):
        self.layout = layout
        self.slots = slots
        self.state = state or State()

    def step(self, event: ev.Event) -> list[Action]:
        self.state.now = max(self.state.now, event.at)
        actions: list[Action] = []
        HANDLERS[type(event)](self, event, actions)
        process(self, actions)
        return actions

    def resume(self) -> list[Action]:
        """After a restart: forget what was in flight, so it is asked again.

        Running builds run again, pending merges are redone, and a landing is
        retried (landing is idempotent when the branch already moved to it).
        """
        for item in self.state.items():
            if item.merge is MergeState.REQUESTED:
                item.merge = MergeState.PENDING
            for build in jobgraph.running(item):
                build.state = BuildState.WAITING
            item.landing = False
        self.state.builds.clear()
        actions: list[Action] = []
        process(self, actions)
        return actions

    # -- handlers ---------------------------------------------------------

    def on_trigger(self, event: ev.TriggerEvent, actions: list[Action]) -> None:
        project = self.layout.projects.get(event.change.project)
        if project is None:
            return
        for pipeline in self.layout.pipelines.values():
            matches = any(t.connection == event.connection and t.event == event.kind
                          for t in pipeline.triggers)
            if matches and pipeline.name in project.pipelines:
                self.enqueue(pipeline.name, event.change, actions)

    def on_enqueue(self, event: ev.EnqueueRequested, actions: list[Action]) -> None:
        if event.pipeline in self.layout.pipelines and event.change.project in self.layout.projects:
            self.enqueue(event.pipeline, event.change, actions)

    def on_dequeue(self, event: ev.DequeueRequested, actions: list[Action]) -> None:
        item = self.find_change(event.pipeline, event.project, event.ref)
        if item is not None and not item.landing:
            self.remove(item, ItemResult.DEQUEUED, "dequeued by request", actions)

    def on_promote(self, event: ev.PromoteRequested, actions: list[Action]) -> None:
        item = self.find_change(event.pipeline, event.project, event.ref)
        if item is None:
            return
        queue = self.state.queue_of(item)
        moving = set(self.ahead_dependencies(item)) | {item.id}
        landing = [i for i in queue.items if i.landing and i.id not in moving]
        promoted = [i for i in queue.items if i.id in moving]
        rest = [i for i in queue.items if i.id not in moving and not i.landing]
        queue.items = landing + promoted + rest

    def on_merge(self, event: ev.MergeCompleted, actions: list[Action]) -> None:
        item = self.state.index.get(event.item)
        if item is None or item.generation != event.generation or item.merge is not MergeState.REQUESTED:
            return
        if event.conflict is not None:
            # Failing, not final: the items ahead may yet fail and leave.
            item.merge, item.conflict = MergeState.CONFLICT, event.conflict
            item.failing = item.failing or event.conflict
        else:
            item.merge, item.state, item.base_commit = MergeState.MERGED, event.state, event.base_commit

    def on_build(self, event: ev.BuildCompleted, actions: list[Action]) -> None:
        item_id = self.state.builds.pop(event.build, None)
        item = self.state.index.get(item_id) if item_id is not None else None
        if item is None:
            return
        build = next((b for b in item.builds.values() if b.id == event.build), None)
        if build is not None and build.state is BuildState.RUNNING:
            jobgraph.record_result(item, build, event.result, event.at, self.layout.jobs, event.detail)

    def on_land(self, event: ev.LandCompleted, actions: list[Action]) -> None:
        item = self.state.index.get(event.item)
        if item is None or item.generation != event.generation or not item.landing:
            return
        item.landing = False
        if not event.ok:
            # The branch moved outside gateq: rebuild the queue on the new tip.
            reset(self, item, None, actions)
            return
        queue = self.state.queue_of(item)
        queue.window = grow(queue.window, self.layout.pipelines[item.pipeline].window)
        for other in queue.items:
            if other.base == item.id:
                other.base, other.base_generation = None, None
        self.remove(item, ItemResult.MERGED, None, actions, commit=event.commit,
                    snapshot=dict(event.snapshots) or None)

    # -- operations shared by handlers and passes -------------------------

    def enqueue(self, pipeline_name: str, change: Change, actions: list[Action]) -> None:
        pipeline = self.layout.pipelines[pipeline_name]
        project = self.layout.projects[change.project]
        pstate = self.state.pipelines.setdefault(pipeline_name, PipelineState(pipeline_name))
        old = self.find_change(pipeline_name, change.project, change.ref, change.branch)
        if old is not None:
            if old.change.revision == change.revision or old.landing:
                return
            self.remove(old, ItemResult.DEQUEUED,
                        f"superseded by new revision {change.revision[:12]}", actions)
        queue_name = project.queue_name
        queue = pstate.queues.setdefault(queue_name, ChangeQueue(queue_name, pipeline.window.initial))
        depends = tuple(i.id for i in queue.items
                        if i.change.project == change.project and i.change.branch == change.branch
                        and i.change.revision != change.revision and i.change.revision in change.commits)
        item = Item(id=self.state.next_item, pipeline=pipeline_name, queue=queue_name,
                    change=change, enqueued_at=self.state.now,
                    jobs=tuple(project.pipelines.get(pipeline_name, ())), depends_on=depends)
        self.state.next_item += 1
        queue.items.append(item)
        self.state.index[item.id] = item

    def remove(self, item: Item, result: ItemResult, reason: str | None,
               actions: list[Action], commit: str | None = None,
               snapshot: dict | None = None) -> None:
        """Take an item out of its queue, report it, and drop its dependents."""
        if item.removed:
            return
        cancel_builds(self, item, actions)
        item.removed = True
        del self.state.index[item.id]
        queue = self.state.queue_of(item)
        queue.items = [i for i in queue.items if not i.removed]
        actions.append(Report(result_record(item, result, reason, commit, self.state.now, snapshot)))
        if result is not ItemResult.MERGED:
            for other in list(queue.items):
                if item.id in other.depends_on:
                    self.remove(other, ItemResult.DEQUEUED,
                                f"depends on {item.change.name} which {describe(result)}", actions)

    def find_change(self, pipeline: str, project: str, ref: str,
                    branch: str | None = None) -> Item | None:
        pstate = self.state.pipelines.get(pipeline)
        for queue in (pstate.queues.values() if pstate else ()):
            for item in queue.items:
                c = item.change
                if c.project == project and same_ref(c.ref, ref) and branch in (None, c.branch):
                    return item
        return None

    def ahead_dependencies(self, item: Item) -> list[int]:
        """Items this one needs, transitively, that are still queued."""
        seen: list[int] = []
        todo = list(item.depends_on)
        while todo:
            dep = todo.pop()
            if dep in self.state.index and dep not in seen:
                seen.append(dep)
                todo.extend(self.state.index[dep].depends_on)
        return seen


def same_ref(a: str, b: str) -> bool:
    """`fix-1` and `refs/heads/fix-1` name the same change."""
    full = lambda r: r if r.startswith("refs/") else "refs/heads/" + r  # noqa: E731
    return full(a) == full(b)


HANDLERS: dict[type, Callable[[Scheduler, object, list[Action]], None]] = {
    ev.TriggerEvent: Scheduler.on_trigger,
    ev.EnqueueRequested: Scheduler.on_enqueue,
    ev.DequeueRequested: Scheduler.on_dequeue,
    ev.PromoteRequested: Scheduler.on_promote,
    ev.MergeCompleted: Scheduler.on_merge,
    ev.BuildCompleted: Scheduler.on_build,
    ev.LandCompleted: Scheduler.on_land,
}
