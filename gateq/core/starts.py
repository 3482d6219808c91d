"""Start builds while slots are free, in priority order: gate (dependent)
pipelines first, then position in queue (so the head of a queue that waited
longer goes before a deep item of another queue), then arrival.

Only items noted as having builds to start are looked at, best first, and
the work stops as soon as the slots are full.
"""
from __future__ import annotations

from ..config.model import Layout
from . import jobgraph
from .actions import Action, StartBuild
from .queues import Queues
from .state import Build, Item
from .tracking import QueueTracker
from .types import BuildState


def by_priority(layout: Layout) -> list[str]:
    names = list(layout.pipelines)
    return sorted(names, key=lambda n: (0 if layout.pipelines[n].dependent else 1, names.index(n)))


def start_builds(queues: Queues, slots: int, order: list[str]) -> list[Action]:
    actions: list[Action] = []
    for name in order:
        pstate = queues.state.pipelines.get(name)
        if len(queues.state.builds) >= slots:
            return actions
        if pstate is None:
            continue
        trackers = [queues.trackers[(name, q)] for q in pstate.queues]
        while (best := best_ready(queues, trackers)) is not None:
            item, builds, tracker = best
            for build in builds:
                if len(queues.state.builds) >= slots:
                    return actions
                actions.append(start(queues, item, build))
            tracker.ready.discard(item.id)
    return actions


def best_ready(queues: Queues, trackers: list[QueueTracker]):
    """The item whose builds go first, its builds to start, and its tracker."""
    found = [(f, t) for t in trackers if t.ready and (f := first_ready(queues, t)) is not None]
    if len(found) > 1:      # the queues' firsts compete by position, then arrival
        found.sort(key=lambda ft: (ft[1].queue.position(ft[0][0]) if ft[1].dependent else 0, ft[0][0].id))
    return (*found[0][0], found[0][1]) if found else None


def first_ready(queues: Queues, tracker: QueueTracker) -> tuple[Item, list[Build]] | None:
    """The queue's first item that has builds to start now; the others noted
    are dropped (they are noted again when that changes)."""
    while (top := tracker.ready.first()) is not None:
        item = queues.state.index.get(top[1])
        if item is not None:
            builds = startable(queues, tracker, item)
            if builds:
                return item, builds
        tracker.ready.pop()
    return None


def startable(queues: Queues, tracker: QueueTracker, item: Item) -> list[Build]:
    if not item.set_up or (item.failing and tracker.pipeline.fail_fast):
        return []
    if tracker.dependent and tracker.queue.position(item) >= tracker.queue.window:
        return []
    return jobgraph.runnable(item, queues.layout.jobs, queues.blocked_for(tracker, item))


def start(queues: Queues, item: Item, build: Build) -> StartBuild:
    state = queues.state
    build.state = BuildState.RUNNING
    build.started_at = state.now
    state.builds[build.id] = item.id
    artifacts = ()
    if queues.layout.queue_repositories(item.queue):
        artifacts = tuple(a for i in queues.chain_items(item) for a in jobgraph.exported(i, queues.layout.jobs))
    return StartBuild(build.id, item.id, item.pipeline, build.job, item.change, item.spec,
                      queues.chain(item), artifacts)
