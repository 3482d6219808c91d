"""The scheduler: `step(event) -> actions`, a deterministic function of the
layout, the state and the event. No I/O and no clock: time comes in events.

A handler applies the event to the items it names and touches them; then
settle.py evaluates, in queue order, the touched items and whatever their
evaluation touches in turn (rules.py decides for each), and starts.py
starts builds by priority while slots are free.
"""
from __future__ import annotations

from typing import Callable

from ..config.model import Layout, Pipeline
from . import events as ev
from . import checks, jobgraph, lifecycle, needs, requirements, triggers
from .actions import Action, Report, ResultRecord
from .queues import Queues
from .settle import settle
from .starts import by_priority, start_builds
from .state import Item, Member, Stage, State
from .types import BuildState, Change, ChangeKey, ItemResult
from .window import grow


class Scheduler:
    """Owns the State; the same code runs in the engine and the simulator."""

    def __init__(self, layout: Layout, slots: int, state: State | None = None):
        self.layout = layout
        self.slots = slots
        self.state = state or State()
        self.queues = Queues(layout, self.state)
        self.priority = by_priority(layout)
        self._keys: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}

    def step(self, event: ev.Event) -> list[Action]:
        self.state.now = max(self.state.now, event.at)
        return HANDLERS[type(event)](self, event) + self.settle()

    def settle(self) -> list[Action]:
        return settle(self.queues, self.needed_keys) + start_builds(self.queues, self.slots, self.priority)

    def resume(self) -> list[Action]:
        """After a restart: forget what was in flight, so it is asked again.

        Running builds run again, pending merges are redone, and a landing is
        retried (landing is idempotent when the branch already moved to it).
        """
        for item in list(self.state.items()):
            lifecycle.resume(item)
            self.queues.touch(item)
        self.state.builds.clear()
        return self.settle()

    # -- handlers ---------------------------------------------------------

    def on_trigger(self, event: ev.TriggerEvent) -> list[Action]:
        project = self.layout.projects.get(event.change.project)
        if project is None:
            return []
        if event.review is not None and not event.review.open:
            return self.closed(event)
        actions = self.supersede(event)
        for pipeline in self.layout.pipelines.values():
            if pipeline.name in project.pipelines and triggers.triggered(pipeline, event):
                actions += self.admit(pipeline, event)
        return actions

    def closed(self, event: ev.TriggerEvent) -> list[Action]:
        """The change was abandoned or merged outside the gate: it leaves every
        pipeline (unless it is landing: then that is gateq's own merge)."""
        actions: list[Action] = []
        for pipeline in self.layout.pipelines:
            for item, member in self.queues.lookup.same_change(pipeline, event.change.project,
                                                              event.change.key_id):
                if item.stage is not Stage.LANDING and member.id in self.state.holders:
                    actions += self.queues.remove_change(item, member, ItemResult.DEQUEUED,
                                                         f"no longer open ({event.kind})")
        return actions

    def supersede(self, event: ev.TriggerEvent) -> list[Action]:
        """A review system's new patch set takes the older ones out of every
        pipeline, whether or not it is enqueued itself (Zuul's default)."""
        change = event.change
        if event.review is None or not event.review.current_patchset or change.number is None:
            return []
        actions: list[Action] = []
        for pipeline in self.layout.pipelines:
            for item, member in self.queues.lookup.same_change(pipeline, change.project, change.key_id):
                if member.change.revision != change.revision and item.stage is not Stage.LANDING \
                        and member.id in self.state.holders and not newer(member.change, change):
                    actions += self.queues.remove_change(item, member, ItemResult.DEQUEUED,
                                                         superseded(change))
        return actions

    def admit(self, pipeline: Pipeline, event: ev.TriggerEvent) -> list[Action]:
        """Enqueue the change if it may be, with what it needs ahead of it or
        in its item (needs.py); else a not-enqueued result that says why."""
        change = event.change
        found = self.queues.find_same(pipeline.name, change)
        if found is not None and found[1].change.revision == change.revision:
            return []
        connection = self.layout.projects[change.project].connection
        reason = requirements.on_arrival(pipeline, connection, event.review)
        plan = None
        if reason is None:
            plan = needs.plan(self.layout, pipeline, change, event.connection, event.needed,
                              self.queued_in(pipeline.name))
            reason = plan.refused
        if reason is not None:
            return [self.not_enqueued(pipeline.name, change, reason)]
        actions: list[Action] = []
        for group in plan.groups:
            actions += self.enqueue(pipeline.name, group[0]) if len(group) == 1 \
                else self.enqueue_group(pipeline.name, group)
        return actions

    def queued_in(self, pipeline: str) -> needs.QueuedIn:
        def queue(key: ChangeKey, revision: str) -> str | None:
            return next((item.queue for item, m in self.queues.lookup.keyed(pipeline, key)
                         if m.change.revision == revision), None)
        return queue

    def not_enqueued(self, pipeline: str, change: Change, reason: str) -> Report:
        """A result for a change refused on arrival, under an id of its own."""
        item_id = self.state.next_item
        self.state.next_item += 1
        now = self.state.now
        return Report(ResultRecord(item_id, pipeline, change.project, change.ref, change.branch,
                                   change.revision, ItemResult.NOT_ENQUEUED, None, reason, (), now, now))

    def on_enqueue(self, event: ev.EnqueueRequested) -> list[Action]:
        if event.pipeline in self.layout.pipelines and event.change.project in self.layout.projects:
            return self.enqueue(event.pipeline, event.change)
        return []

    def on_dequeue(self, event: ev.DequeueRequested) -> list[Action]:
        found = self.find_member(event.pipeline, event.project, event.ref)
        if found is None or found[0].stage is Stage.LANDING:
            return []
        return self.queues.remove_change(*found, ItemResult.DEQUEUED, "dequeued by request")

    def on_promote(self, event: ev.PromoteRequested) -> list[Action]:
        item = self.find_change(event.pipeline, event.project, event.ref)
        if item is not None:
            queue = self.state.queue_of(item)
            moving = set(self.ahead_dependencies(item)) | {item.id}
            landing = [i for i in queue.items if i.stage is Stage.LANDING and i.id not in moving]
            promoted = [i for i in queue.items if i.id in moving]
            rest = [i for i in queue.items if i.id not in moving and i.stage is not Stage.LANDING]
            self.queues.reorder(queue, item.pipeline, landing + promoted + rest)
        return []

    def on_merge(self, event: ev.MergeCompleted) -> list[Action]:
        item = self.state.index.get(event.item)
        if item is None or item.generation != event.generation or item.stage is not Stage.MERGING:
            return []
        if event.failure is None:
            item.spec, item.base_commit, item.bases = event.state, event.base_commit, event.bases
            item.move(Stage.MERGED)
        elif event.failure.final and len(item.members) == 1:   # it cannot come back by merging again
            return self.queues.remove(item, event.failure.result, event.reason)
        else:       # failing, not final: the items ahead may yet leave, or a batch be split
            item.move(Stage.CONFLICT)
            item.failing = event.reason
        self.queues.touch(item)
        return []

    def on_build(self, event: ev.BuildCompleted) -> list[Action]:
        item_id = self.state.builds.pop(event.build, None)
        item = self.state.index.get(item_id) if item_id is not None else None
        if item is not None:
            build = next((b for b in (*item.builds.values(), *item.controls.values())
                          if b.id == event.build), None)
            if build is not None and build.state is BuildState.RUNNING:
                pipeline = self.layout.pipelines[item.pipeline]
                excusing = pipeline.excuse_base_failures and pipeline.dependent
                jobgraph.record_result(item, build, event.result, event.at, self.layout.jobs,
                                       event.detail, event.duration, review=excusing)
                self.queues.touch(item)
                if excusing:            # the items built on it may be waiting for this result
                    self.queues.touch_built_on(item)
        return []

    def on_checked(self, event: ev.ChangeChecked) -> list[Action]:
        item = self.state.index.get(event.item)
        if item is None or item.generation != event.generation or item.stage is not Stage.TESTING:
            return []
        actions = checks.answered(item, event, self.layout.pipelines[item.pipeline], self.layout)
        self.queues.touch(item)
        return actions

    def on_land(self, event: ev.LandCompleted) -> list[Action]:
        item = self.state.index.get(event.item)
        if item is None or item.generation != event.generation or item.stage is not Stage.LANDING:
            return []
        if not event.ok:
            # The branch moved outside gateq: rebuild the queue on the new tip.
            actions = self.queues.cancelled(lifecycle.reset(item, None, self.state.now))
            self.queues.touch(item)
            return actions
        queue = self.state.queue_of(item)
        before = queue.window
        queue.window = grow(queue.window, self.layout.pipelines[item.pipeline].window)
        self.queues.touch_window(queue, before, queue.window)
        self.queues.landed(item)
        return self.queues.remove(item, ItemResult.MERGED, None, commit=event.commit,
                                  snapshot=dict(event.snapshots) or None)

    # -- operations shared by handlers ------------------------------------

    def enqueue(self, pipeline: str, change: Change) -> list[Action]:
        """Add the change to the pipeline; a new revision replaces the old item."""
        actions: list[Action] = []
        found = self.queues.find_same(pipeline, change)
        if found is not None:
            old, member = found
            if member.change.revision == change.revision or old.stage is Stage.LANDING \
                    or newer(member.change, change):
                return actions
            actions = self.queues.remove_change(old, member, ItemResult.DEQUEUED, superseded(change))
        return actions + self.queues.add(pipeline, change)

    def enqueue_group(self, pipeline: str, changes: tuple[Change, ...]) -> list[Action]:
        """Add changes as one item (a cycle, or a change with what it needs in
        an independent pipeline); older revisions of them leave first."""
        actions: list[Action] = []
        live = changes if self.layout.pipelines[pipeline].dependent else changes[:1]
        for change in live:
            found = self.queues.find_same(pipeline, change)
            if found is not None:
                if found[0].stage is Stage.LANDING:
                    return actions
                actions += self.queues.remove_change(*found, ItemResult.DEQUEUED, superseded(change))
        return actions + self.queues.add_item(pipeline, changes)

    def find_change(self, pipeline: str, project: str, ref: str,
                    branch: str | None = None) -> Item | None:
        """The item holding that change (in a batch, maybe not as its first)."""
        found = self.queues.find(pipeline, project, ref, branch)
        return found[0] if found else None

    def find_member(self, pipeline: str, project: str, ref: str,
                    branch: str | None = None) -> tuple[Item, Member] | None:
        return self.queues.find(pipeline, project, ref, branch)

    def ahead_dependencies(self, item: Item) -> list[int]:
        """Items holding changes this one needs, transitively, that are still queued."""
        seen: list[int] = []
        todo = [self.state.holders[d] for d in item.needs() if d in self.state.holders]
        while todo:
            dep = todo.pop()
            if dep.id not in seen and dep is not item:
                seen.append(dep.id)
                todo.extend(self.state.holders[d] for d in dep.needs() if d in self.state.holders)
        return seen

    def needed_keys(self, item: Item) -> tuple[tuple[str, str], ...]:
        """Every project of the item's queue, on the branch of each of its
        changes or its default one."""
        if len(item.members) > 1:
            return tuple(sorted({k for c in item.changes for k in self.keys_for(item.queue, c)}))
        return self.keys_for(item.queue, item.change)

    def keys_for(self, queue: str, change: Change) -> tuple[tuple[str, str], ...]:
        key = (queue, change.project, change.branch)
        if key not in self._keys:
            keys = {key[1:]}
            for name in self.layout.queue_projects(queue):
                keys.add((name, change.branch))
                keys.add((name, self.layout.projects[name].default_branch))
            self._keys[key] = tuple(sorted(keys))
        return self._keys[key]


HANDLERS: dict[type, Callable[[Scheduler, object], list[Action]]] = {
    ev.TriggerEvent: Scheduler.on_trigger,
    ev.EnqueueRequested: Scheduler.on_enqueue,
    ev.DequeueRequested: Scheduler.on_dequeue,
    ev.PromoteRequested: Scheduler.on_promote,
    ev.MergeCompleted: Scheduler.on_merge,
    ev.BuildCompleted: Scheduler.on_build,
    ev.LandCompleted: Scheduler.on_land,
    ev.ChangeChecked: Scheduler.on_checked,
}


def newer(queued: Change, arriving: Change) -> bool:
    """The queued change is a later patch set than the one arriving (an old event)."""
    return queued.patchset is not None and arriving.patchset is not None and queued.patchset > arriving.patchset


def superseded(change: Change) -> str:
    if change.patchset is not None:
        return f"superseded by patch set {change.patchset}"
    return f"superseded by new revision {change.revision[:12]}"
