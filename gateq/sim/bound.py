"""The bound: a time before which no strategy can land a change, per change.

Which changes can land is decided in hindsight (`fates`): in arrival order,
a change lands unless it is bad, needs a change that does not land, or
conflicts with an earlier change that lands; those are the good changes.
The bound of a change is the largest of three lower bounds, each valid for
every strategy and every flake (the proof is in docs/simulator.md):

- own: its arrival, one merge, the critical path of its gate jobs (each with
  its workspace) and, when its landing publishes, the publishing;
- queue: it cannot land before every earlier change of its queue has left
  the queue once: by landing (not before that change's bound) or by being
  removed (not before `removal`, the earliest that can happen);
- work: with W workers, the work each earlier change of its queue must do
  before it leaves, and its own, all start after their arrival; when a
  strategy tests up to K changes as one item (a batch), a build serves up
  to K changes, so each change's work counts for 1/K of it (for batches of
  a series only, 1/min(K, the changes of its series)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .costs import Costs
from .trace import Trace, TraceChange, TraceJob

INF = math.inf


@dataclass(frozen=True)
class Bound:
    landed: dict[str, float]        # good change -> no strategy lands it earlier
    rejected: dict[str, float]      # the other changes -> their arrival
    job_seconds: float              # one run of every good change's gate jobs, workspaces included


def fates(trace: Trace) -> tuple[list[TraceChange], list[TraceChange]]:
    """Split the changes, in arrival order, into those that land and those that do not."""
    good: list[TraceChange] = []
    landing: set[str] = set()
    bad: list[TraceChange] = []
    partners = conflict_partners(trace)
    for c in trace.changes:
        ok = (not c.bad and all(d in landing for d in c.depends)
              and not (partners.get(c.id, set()) & landing))
        (good if ok else bad).append(c)
        if ok:
            landing.add(c.id)
    return good, bad


def conflict_partners(trace: Trace) -> dict[str, set[str]]:
    """Textual conflicts go both ways."""
    partners: dict[str, set[str]] = {}
    for c in trace.changes:
        for other in c.conflicts:
            partners.setdefault(c.id, set()).add(other)
            partners.setdefault(other, set()).add(c.id)
    return partners


@dataclass(frozen=True)
class Shape:
    """What one change's gate jobs force, from the moment its merge is done."""
    critical: float          # the longest chain of `needs`, workspaces included
    work: float              # one run of every gate job
    fail_after: float        # earliest a job that can fail (broken or flaky) ends; INF: none
    fail_work: float         # the least work done by then
    fails: bool              # a broken gate job: it never lands


def shape(c: TraceChange, gated: list[TraceJob], workspace: float) -> Shape:
    finish: dict[str, float] = {}
    closure: dict[str, set[str]] = {}
    names = {j.name for j in gated}
    for j in ordered(gated):
        needs = [n for n in j.needs if n in names]
        finish[j.name] = workspace + j.duration + max((finish[n] for n in needs), default=0.0)
        closure[j.name] = {j.name}.union(*(closure[n] for n in needs))
    cost = {j.name: workspace + j.duration for j in gated}
    can_fail = [j.name for j in gated if j.name in c.breaks or (c.flake if j.flake is None else j.flake) > 0]
    return Shape(critical=max(finish.values(), default=0.0), work=sum(cost.values()),
                 fail_after=min((finish[n] for n in can_fail), default=INF),
                 fail_work=min((sum(cost[m] for m in closure[n]) for n in can_fail), default=INF),
                 fails=any(j.name in c.breaks for j in gated))


def ordered(jobs: list[TraceJob]) -> list[TraceJob]:
    """Jobs with their `needs` first (the trace is checked acyclic)."""
    out: list[TraceJob] = []
    done: set[str] = set()
    names = {j.name for j in jobs}
    while len(out) < len(jobs):
        for j in jobs:
            if j.name not in done and all(n in done or n not in names for n in j.needs):
                out.append(j)
                done.add(j.name)
    return out


def bound(trace: Trace, workers: int | None, costs: Costs, export_in_gate: bool = True,
          batch: int = 1, series: bool = False) -> Bound:
    """`export_in_gate` False: the export job runs after landing (zuul-post);
    `batch`: the most changes a strategy tests as one item; `series`: only
    changes of one series (linked by `depends`) share an item."""
    sharing = shares(trace, batch, series)
    good, _ = fates(trace)
    good_ids = {c.id for c in good}
    partners = conflict_partners(trace)
    queue_projects: dict[str, set[str]] = {}
    for c in trace.changes:
        queue_projects.setdefault(c.queue, set()).add(c.project)
    landed: dict[str, float] = {}
    removal_from: dict[str, float] = {}      # earliest removal of it or of a change it needs
    seen: set[str] = set()
    queues: dict[str, QueueBound] = {}
    job_seconds = 0.0
    for c in trace.changes:
        gated = [j for j in c.jobs if export_in_gate or not j.export]
        s = shape(c, gated, costs.workspace_seconds(len(queue_projects[c.queue]), with_view=False))
        ready = c.at + costs.merge
        # In its first stay in the queue a change can meet only earlier changes (ahead or landed).
        conflicts = bool(partners.get(c.id, set()) & seen)
        seen.add(c.id)
        own_removal = min(ready if conflicts else INF, ready + s.fail_after)
        removal_from[c.id] = min([own_removal] + [removal_from[d] for d in c.depends])
        removal = max(c.at, removal_from[c.id])
        publishes = export_in_gate and any(j.export for j in gated)
        own = INF if s.fails else ready + s.critical + (costs.publish if publishes else 0.0)
        q = queues.setdefault(c.queue, QueueBound(workers))
        earliest = max(own, q.left, q.work_bound(ready, s.work / sharing[c.id]))
        if c.id in good_ids:
            landed[c.id] = earliest
            job_seconds += s.work
        needs_nothing_else = own_removal < INF and all(removal_from[d] == INF for d in c.depends)
        work = s.work if removal == INF else (s.fail_work if needs_nothing_else and not conflicts else 0.0)
        q.add(min(earliest, removal), ready, work / sharing[c.id])
    return Bound(landed, {c.id: c.at for c in trace.changes if c.id not in good_ids}, job_seconds)


def shares(trace: Trace, batch: int, series: bool) -> dict[str, int]:
    """How many changes at most share each change's builds. A series batch
    holds changes linked by `depends` only (each joins needing one already
    in it), so no more than its series has."""
    if batch == 1 or not series:
        return {c.id: batch for c in trace.changes}
    group = {c.id: c.id for c in trace.changes}

    def root(cid: str) -> str:
        while group[cid] != cid:
            group[cid] = group[group[cid]]
            cid = group[cid]
        return cid
    for c in trace.changes:
        for d in c.depends:
            group[root(d)] = root(c.id)
    sizes: dict[str, int] = {}
    for c in trace.changes:
        sizes[root(c.id)] = sizes.get(root(c.id), 0) + 1
    return {c.id: min(batch, sizes[root(c.id)]) for c in trace.changes}


class QueueBound:
    """Running figures of one queue, over the changes seen so far in arrival order:
    `left`, the latest of their earliest times to leave the queue once, and what
    the work bound needs (max over i of ready_i - work done from i on / W)."""

    def __init__(self, workers: int | None):
        self.workers = workers
        self.left = 0.0
        self.work_done = 0.0               # sum of the work of the changes seen
        self.best = -INF                   # max over seen i of ready_i - work before i / W

    def work_bound(self, ready: float, work: float) -> float:
        if not self.workers:
            return 0.0
        best = max(self.best, ready - self.work_done / self.workers)
        return best + (self.work_done + work) / self.workers

    def add(self, leaves: float, ready: float, work: float) -> None:
        self.left = max(self.left, leaves)
        if self.workers:
            self.best = max(self.best, ready - self.work_done / self.workers)
            self.work_done += work
