"""The simulated world around the real Scheduler: a virtual clock, merges,
builds and landings, carried out as the engine's adapters would.

Events wait in a heap keyed by (time, sequence number), so ties resolve in
the order they were scheduled and every run replays exactly. The scheduler
sees nothing but events; the world sees nothing of it but its actions.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ..core import actions as act
from ..core import events as ev
from ..core.scheduler import Scheduler
from ..core.snapshot import is_idle
from ..core.types import Change, JobResult, SpecState
from .luck import Luck
from .repos import Repos
from .strategies import PIPELINE, Strategy, build_layout
from .trace import Trace, TraceChange

UNLIMITED = 10 ** 9


class SimulationStuck(ValueError):
    """The gate still holds items but nothing is left to happen."""


@dataclass
class Run:
    """One build: it holds a worker from `started` to `ended`; it runs its
    duration from `clock` (later than `started` while an export waits)."""
    id: str
    item: int
    change: TraceChange
    job: str
    state: SpecState
    ahead: tuple[str, ...]            # changes it is built on, head first
    started: float
    result: JobResult
    clock: float | None = None
    ended: float | None = None
    cancelled: bool = False

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started


@dataclass
class SimResult:
    strategy: Strategy
    runs: list[Run] = field(default_factory=list)
    reports: dict[str, dict] = field(default_factory=dict)   # change -> its Report record
    flakes: int = 0
    steps: int = 0


class World:
    def __init__(self, trace: Trace, strategy: Strategy, workers: int | None = None,
                 seed: int = 0, merge_seconds: float = 0.0):
        self.trace = trace
        self.strategy = strategy
        self.scheduler = Scheduler(build_layout(trace, strategy), workers or UNLIMITED)
        self.repos = Repos(trace)
        self.luck = Luck(self.repos, seed)
        self.merge_seconds = merge_seconds
        self.result = SimResult(strategy)
        self.heap: list = []
        self.sequence = 0
        self.running: dict[str, Run] = {}
        self.waiting: dict[str, Run] = {}           # export builds held for the head
        self.succeeded: set[tuple[int, SpecState, str]] = set()

    def run(self) -> SimResult:
        for c in self.trace.changes:
            self.push(ev.EnqueueRequested(c.at, PIPELINE, as_change(c, self.repos)))
        while self.heap:
            at, _, event = heapq.heappop(self.heap)
            if isinstance(event, ev.BuildCompleted) and not self.finish(event):
                continue
            self.result.steps += 1
            self.handle(self.scheduler.step(event), at)
        if not is_idle(self.scheduler):
            raise SimulationStuck(
                f"{self.trace.path}: the gate is stuck at {self.scheduler.state.now:.0f} s with "
                f"{len(self.scheduler.state.index)} items queued and nothing left to happen "
                f"(workers all held by waiting export builds?)")
        self.result.flakes = self.luck.flakes
        return self.result

    def push(self, event) -> None:
        heapq.heappush(self.heap, (event.at, self.sequence, event))
        self.sequence += 1

    def handle(self, actions: list[act.Action], now: float) -> None:
        for action in actions:
            if isinstance(action, act.PrepareMerge):
                self.merge(action, now)
            elif isinstance(action, act.StartBuild):
                self.start(action, now)
            elif isinstance(action, act.CancelBuild):
                self.cancel(action.build, now)
            elif isinstance(action, act.Land):
                self.land(action, now)
            elif isinstance(action, act.Report):
                self.result.reports[action.record["change"]] = action.record
        if self.waiting:
            self.release_exports(now)

    # -- what the adapters would do ----------------------------------------

    def merge(self, action: act.PrepareMerge, now: float) -> None:
        change = self.repos.changes[action.change.ref]
        merged = self.repos.merge(action.base, action.need, change)
        at = now + self.merge_seconds
        if isinstance(merged, str):
            self.push(ev.MergeCompleted(at, action.item, action.generation, conflict=merged))
        else:
            self.push(ev.MergeCompleted(at, action.item, action.generation, merged[0], merged[1]))

    def start(self, action: act.StartBuild, now: float) -> None:
        change = self.repos.changes[action.change.ref]
        run = Run(action.build, action.item, change, action.job, action.state,
                  tuple(name.split(":", 1)[1] for name in action.chain[:-1]), now,
                  self.luck.outcome(change, action.job, action.state))
        self.result.runs.append(run)
        self.running[run.id] = run
        if self.strategy.export_waits_for_head and change.job(action.job).export:
            self.waiting[run.id] = run
        else:
            self.begin(run, now)

    def begin(self, run: Run, now: float) -> None:
        run.clock = now
        self.push(ev.BuildCompleted(now + run.change.job(run.job).duration, run.id, run.result))

    def release_exports(self, now: float) -> None:
        """An export waiting for the head starts once what it is built on has
        landed and its item's other jobs on the same state succeeded."""
        for run in list(self.waiting.values()):
            if all(c in self.repos.landed_at for c in run.ahead) and all(
                    (run.item, run.state, j.name) in self.succeeded
                    for j in run.change.jobs if j.name != run.job):
                del self.waiting[run.id]
                self.begin(run, now)

    def finish(self, event: ev.BuildCompleted) -> bool:
        """A build's time is up; False when it was cancelled before."""
        run = self.running.pop(event.build, None)
        if run is None:
            return False
        run.ended = event.at
        if run.result is JobResult.SUCCESS:
            self.succeeded.add((run.item, run.state, run.job))
        return True

    def cancel(self, build: str, now: float) -> None:
        run = self.running.pop(build, None)
        if run is not None:
            self.waiting.pop(build, None)
            run.ended, run.cancelled = now, True

    def land(self, action: act.Land, now: float) -> None:
        ok = self.repos.land((action.project, action.branch), action.old, action.new)
        self.push(ev.LandCompleted(now, action.item, action.generation, ok,
                                   action.new if ok else None, None if ok else "tip moved"))


def as_change(c: TraceChange, repos: Repos) -> Change:
    """The engine's view of a trace change: its commits name its dependencies."""
    return Change(c.project, c.id, c.branch, f"r-{c.id}",
                  frozenset(f"r-{d}" for d in repos.with_dependencies(c)))


def simulate(trace: Trace, strategy: Strategy, workers: int | None = None, seed: int = 0,
             merge_seconds: float = 0.0) -> SimResult:
    return World(trace, strategy, workers, seed, merge_seconds).run()
