"""Start builds while slots are free, in priority order: gate (dependent)
pipelines first, then position in queue (so the head of a queue that waited
longer goes before a deep item of another queue), then arrival.

Only items noted as having builds to start are looked at, best first, and
the work stops as soon as the slots are full.
"""
from __future__ import annotations

from typing import NamedTuple

from ..config.model import Layout
from . import blame, jobgraph
from .actions import Action, StartBuild
from .queues import Queues
from .state import Build, Item
from .tracking import QueueTracker
from .types import BuildState


def by_priority(layout: Layout) -> list[str]:
    names = list(layout.pipelines)
    return sorted(names, key=lambda n: (0 if layout.pipelines[n].dependent else 1, names.index(n)))


class Candidate(NamedTuple):
    """The first item of one queue with builds to start now."""
    item: Item
    builds: list[Build]
    tracker: QueueTracker

    def priority(self) -> tuple[int, int]:
        """Position in queue (all items of an independent queue stand first), then arrival."""
        queue = self.tracker.queue
        return (queue.position(self.item) if self.tracker.dependent else 0, self.item.id)


def start_builds(queues: Queues, slots: int, order: list[str]) -> list[Action]:
    actions: list[Action] = []
    for name in order:
        pstate = queues.state.pipelines.get(name)
        if len(queues.state.builds) >= slots:
            return actions
        if pstate is None:
            continue
        trackers = [queues.trackers[(name, q)] for q in pstate.queues]
        while (best := best_candidate(queues, trackers)) is not None:
            for build in best.builds:
                if len(queues.state.builds) >= slots:
                    return actions
                actions.append(start(queues, best.item, build))
            best.tracker.ready.discard(best.item.id)
    return actions


def best_candidate(queues: Queues, trackers: list[QueueTracker]) -> Candidate | None:
    if len(trackers) == 1:
        return first_candidate(queues, trackers[0]) if trackers[0].ready else None
    found = [c for t in trackers if t.ready and (c := first_candidate(queues, t)) is not None]
    return min(found, key=Candidate.priority) if len(found) > 1 else (found[0] if found else None)


def first_candidate(queues: Queues, tracker: QueueTracker) -> Candidate | None:
    """The queue's first item that has builds to start now; those noted
    before it that have none are dropped (noted again when that changes)."""
    while (top := tracker.ready.first()) is not None:
        item = queues.state.index.get(top[1])
        if item is not None:
            builds = startable(queues, tracker, item)
            if builds:
                return Candidate(item, builds, tracker)
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
    item.sealed = True                  # a batch takes no more changes once it runs
    control = build is item.controls.get(build.job)
    artifacts = ()
    if queues.layout.queue_repositories(item.queue):
        chain = queues.chain_items(item)[:-1] if control else queues.chain_items(item)
        artifacts = tuple(a for i in chain for a in jobgraph.exported(i, queues.layout.jobs))
    if control:                         # the job alone on what the item's changes were merged onto
        return StartBuild(build.id, item.id, item.pipeline, build.job, item.change, blame.base_state(item),
                          queues.chain(item)[:-len(item.members)], artifacts, control=True)
    return StartBuild(build.id, item.id, item.pipeline, build.job, item.change, item.spec,
                      queues.chain(item), artifacts, item.changes[1:])
