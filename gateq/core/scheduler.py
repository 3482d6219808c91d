"""The scheduler: `step(event) -> actions`, a deterministic function of the
layout, the state and the event. No I/O and no clock: time comes in events.

A handler applies the event to the items it names and touches them; then
settle.py evaluates, in queue order, the touched items and whatever their
evaluation touches in turn (rules.py decides for each), and starts.py
starts builds by priority while slots are free. A code-review event is
arrivals.py's to judge (triggers, requirements, what the change needs);
the answer to a check before landing, checks.py's.
"""
from __future__ import annotations

from typing import Callable

from ..config.model import Layout
from . import events as ev
from . import checks, jobgraph, lifecycle
from .actions import Action
from .arrivals import Arrivals
from .queues import Queues
from .settle import settle
from .starts import by_priority, start_builds
from .state import Item, Member, Stage, State
from .types import BuildState, Change, ItemResult
from .window import grow


class Scheduler:
    """Owns the State; the same code runs in the engine and the simulator."""

    def __init__(self, layout: Layout, slots: int, state: State | None = None):
        self.layout = layout
        self.slots = slots
        self.state = state or State()
        self.queues = Queues(layout, self.state)
        self.arrivals = Arrivals(layout, self.state, self.queues)
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
        return self.arrivals.trigger(event)

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

    def on_work_lost(self, event: ev.WorkLost) -> list[Action]:
        """Merged again from the head down, each on its base's new state; an
        item landing keeps its state (its landing may have happened) unless
        the event says its landing has not (`landing`)."""
        restart = set(event.landing)
        found = [self.state.index[i] for i in dict.fromkeys((*event.items, *event.landing))
                 if i in self.state.index]
        found.sort(key=lambda item: (item.pipeline, item.queue,
                                     self.state.queue_of(item).position(item)))
        actions: list[Action] = []
        for item in found:
            if item.stage is Stage.QUEUED or (item.stage is Stage.LANDING and item.id not in restart):
                continue
            actions += self.queues.rebuilt(item)
            self.queues.touch_built_on(item)
        return actions

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
        # A landing may say something (landed, but not the tree tested: nothing published).
        return self.queues.remove(item, ItemResult.MERGED, event.reason, commit=event.commit,
                                  snapshot=dict(event.snapshots) or None)

    # -- operations shared by handlers ------------------------------------

    def enqueue(self, pipeline: str, change: Change) -> list[Action]:
        """Add the change to the pipeline; a new revision replaces the old item."""
        return self.arrivals.enqueue(pipeline, change)

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
    ev.WorkLost: Scheduler.on_work_lost,
}

