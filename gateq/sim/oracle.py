"""The hindsight oracle: the earliest each good change could land.

It knows in advance which changes are bad and every flake. A change lands
unless it is bad, needs a change that does not land, or conflicts with an
earlier change that lands; it is rejected the moment it arrives. Each change
that lands runs its jobs once, on its final tree, starting when it arrives
(its final tree is known then), with no flakes; a job that installs the
exports ahead waits for them. Workers take ready jobs in arrival order and
never idle while one is ready (list scheduling). A change
lands when its jobs are done and the change before it in its queue has
landed. With enough workers this is exact; with few it is a good greedy
schedule, not a proven optimum (see docs/simulator.md).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from .trace import Trace, TraceChange


@dataclass(frozen=True)
class OracleResult:
    landed: dict[str, float]        # change -> when it lands
    rejected: dict[str, float]      # change -> when it is rejected (its arrival)
    job_seconds: float              # one run of every landed change's jobs


def fates(trace: Trace) -> tuple[list[TraceChange], list[TraceChange]]:
    """Split the changes, in arrival order, into those that land and those that do not."""
    good: list[TraceChange] = []
    landing: set[str] = set()
    bad: list[TraceChange] = []
    partners: dict[str, set[str]] = {}
    for c in trace.changes:
        for other in c.conflicts:
            partners.setdefault(c.id, set()).add(other)
            partners.setdefault(other, set()).add(c.id)
    for c in trace.changes:
        ok = (not c.bad and all(d in landing for d in c.depends)
              and not (partners.get(c.id, set()) & landing))
        (good if ok else bad).append(c)
        if ok:
            landing.add(c.id)
    return good, bad


def oracle(trace: Trace, workers: int | None, merge_seconds: float = 0.0) -> OracleResult:
    good, bad = fates(trace)
    finished = list_schedule(good, workers, merge_seconds)
    landed: dict[str, float] = {}
    last_in_queue: dict[str, float] = {}
    for c in good:
        done = max([finished[c.id, j.name] for j in c.jobs] + [last_in_queue.get(c.queue, 0.0)])
        landed[c.id] = last_in_queue[c.queue] = done
    total = sum(j.duration for c in good for j in c.jobs)
    return OracleResult(landed, {c.id: c.at for c in bad}, total)


def list_schedule(changes: list[TraceChange], workers: int | None,
                  merge_seconds: float) -> dict[tuple[str, str], float]:
    """When each job ends: whenever a worker is free it takes the ready job of
    the earliest-arriving change, so no worker idles while a job is ready.
    A job marked `requires_export` is ready only once every earlier change of
    its queue has finished its export (it installs their artifacts)."""
    waiting: dict[tuple[str, str], set[str]] = {}
    upcoming: list = []                          # (ready at, rank, job index, key)
    exports = Exports(changes)
    for rank, c in enumerate(changes):
        for i, j in enumerate(c.jobs):
            waiting[c.id, j.name] = set(j.needs)
            if not j.needs:
                exports.offer(upcoming, (c.at + merge_seconds, rank, i, (c.id, j.name)))
    heapq.heapify(upcoming)
    ready: list = []                             # (rank, job index, key)
    running: list = []                           # (ends at, rank, key)
    finished: dict[tuple[str, str], float] = {}
    now = 0.0
    while upcoming or ready or running:
        while upcoming and upcoming[0][0] <= now:
            heapq.heappush(ready, heapq.heappop(upcoming)[1:])
        while ready and (not workers or len(running) < workers):
            rank, _, key = heapq.heappop(ready)
            heapq.heappush(running, (now + changes[rank].job(key[1]).duration, rank, key))
        now = min(q[0][0] for q in (upcoming, running) if q)
        while running and running[0][0] <= now:
            end, rank, (cid, name) = heapq.heappop(running)
            finished[cid, name] = end
            if changes[rank].job(name).export:
                exports.finish(upcoming, rank, end)
            for i, j in enumerate(changes[rank].jobs):
                if name in waiting[cid, j.name]:
                    waiting[cid, j.name].discard(name)
                    if not waiting[cid, j.name]:
                        exports.offer(upcoming, (end, rank, i, (cid, j.name)))
    return finished


class Exports:
    """Per queue, the exports not finished yet (a heap of ranks, finished ones
    dropped lazily), and the jobs waiting for the earlier ones."""

    def __init__(self, changes: list[TraceChange]):
        self.changes = changes
        self.unfinished: dict[str, list[int]] = {}
        self.done: set[int] = set()
        self.blocked: dict[str, list] = {}
        for rank, c in enumerate(changes):
            if any(j.export for j in c.jobs):
                self.unfinished.setdefault(c.queue, []).append(rank)   # ranks ascend: a heap

    def first_unfinished(self, queue: str) -> float:
        heap = self.unfinished.get(queue, [])
        while heap and heap[0] in self.done:
            heapq.heappop(heap)
        return heap[0] if heap else math.inf

    def offer(self, upcoming: list, entry) -> None:
        """Schedule a job whose `needs` are done, or hold it for the exports ahead."""
        _, rank, i, _ = entry
        c = self.changes[rank]
        if c.jobs[i].requires_export and self.first_unfinished(c.queue) < rank:
            self.blocked.setdefault(c.queue, []).append(entry)
        else:
            heapq.heappush(upcoming, entry)

    def finish(self, upcoming: list, rank: int, end: float) -> None:
        self.done.add(rank)
        queue = self.changes[rank].queue
        for ready_at, r, i, key in self.blocked.pop(queue, []):
            self.offer(upcoming, (max(ready_at, end), r, i, key))
