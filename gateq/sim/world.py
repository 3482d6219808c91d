"""The simulated world around the real Scheduler: a virtual clock, merges,
builds, landings and publishing, carried out as the engine's adapters would,
and developers who approve changes (again, after an unjust ejection).

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
from ..core.types import Change, JobResult, MergeFailure, SpecState
from .bound import fates
from .costs import FREE, Costs, EngineThread
from .luck import Luck
from .recheck import Developers, Recheck
from .repos import Merged, Repos
from .strategies import PIPELINE, POST_PIPELINE, ExportAt, Strategy, build_layout
from .trace import Trace, TraceChange

UNLIMITED = 10 ** 9
NO_RECHECK = Recheck(0, 0)


class SimulationStuck(ValueError):
    """The gate still holds items but nothing is left to happen."""


@dataclass
class Run:
    """One build: it holds a worker from `started` to `ended`; its job runs
    its duration from `clock` (later than `started` while its workspace is
    prepared, or while an export waits for the head)."""
    id: str
    item: int
    pipeline: str
    change: TraceChange
    job: str
    state: SpecState
    ahead: tuple[str, ...]            # changes it is built on, head first
    started: float
    ready: float                      # its workspace is prepared
    result: JobResult
    seconds_of_work: float            # the job's duration (a post export also publishes)
    clock: float | None = None
    ended: float | None = None
    cancelled: bool = False
    changes: tuple[str, ...] = ()     # its item's changes (a batch has several), in order

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started


@dataclass(frozen=True)
class Publication:
    """A snapshot made public; `agrees`: built from the branch state of that moment."""
    at: float
    change: str
    agrees: bool


@dataclass
class SimResult:
    strategy: Strategy
    runs: list[Run] = field(default_factory=list)
    reports: dict[str, list[dict]] = field(default_factory=dict)   # change -> its gate Reports
    post_reports: list[dict] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)
    rechecks: int = 0
    flakes: int = 0
    steps: int = 0


class World:
    """One strategy's run over one trace. By default the engine's work is free
    and nobody rechecks (what hand-computed cases want); `compare.Settings`
    brings the measured costs and the recheck model.

    Invariant: `in_gate` holds the changes with an item in the gate pipeline;
    `running` the builds holding a worker, `waiting` those of them held for
    the head before their job starts."""

    def __init__(self, trace: Trace, strategy: Strategy, workers: int | None = None,
                 seed: int = 0, costs: Costs = FREE, recheck: Recheck = NO_RECHECK):
        self.trace = trace
        self.strategy = strategy
        self.scheduler = Scheduler(build_layout(trace, strategy), workers or UNLIMITED)
        self.repos = Repos(trace)
        self.luck = Luck(self.repos, seed)
        self.costs = costs
        self.engine = EngineThread()
        self.developers = Developers(recheck, trace, {c.id for c in fates(trace)[0]})
        self.result = SimResult(strategy)
        self.heap: list = []
        self.sequence = 0
        self.running: dict[str, Run] = {}
        self.waiting: dict[str, Run] = {}           # export builds held for the head
        self.succeeded: set[tuple[int, SpecState, str]] = set()
        self.in_gate: set[str] = set()
        self.landed_states: dict[str, tuple[SpecState, str]] = {}   # change -> (state, commit)

    def run(self) -> SimResult:
        for c in self.trace.changes:
            self.push(ev.EnqueueRequested(c.at, PIPELINE, as_change(c, self.repos)))
        while self.heap:
            at, _, event = heapq.heappop(self.heap)
            if isinstance(event, ev.BuildCompleted) and not self.finish(event):
                continue
            self.result.steps += 1
            self.handle(self.scheduler.step(event), at)
            if isinstance(event, ev.EnqueueRequested) and event.pipeline == PIPELINE:
                self.approved(event.change.ref, at)
        if not is_idle(self.scheduler):
            raise SimulationStuck(
                f"{self.trace.path}: the gate is stuck at {self.scheduler.state.now:.0f} s with "
                f"{len(self.scheduler.state.index)} items queued and nothing left to happen "
                f"(workers all held by waiting export builds?)")
        self.result.flakes = self.luck.flakes
        self.result.rechecks = self.developers.total
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
                self.report(action.record.as_dict(), now)
        if self.waiting:
            self.release_exports(now)

    # -- what the adapters would do ----------------------------------------

    def merge(self, action: act.PrepareMerge, now: float) -> None:
        changes = [self.repos.changes[c.ref] for c, _ in action.steps]
        # A landed change is merged again only by the post pipeline, whose
        # jobs run on the commit it landed as (Zuul's ref-updated), not the tip.
        landed = self.landed_states.get(changes[0].id)
        merged = Merged(*landed) if landed else self.repos.merge(action.base, action.need, changes)
        projects = len({project for project, _ in action.need})
        at = self.engine.run(now, self.costs.merge_seconds(not action.base, projects) * len(changes))
        if isinstance(merged, str):
            self.push(ev.MergeCompleted(at, action.item, action.generation,
                                        failure=MergeFailure.CONFLICT, reason=merged))
        else:
            self.push(ev.MergeCompleted(at, action.item, action.generation, merged.state,
                                        merged.base_commit, bases=merged.bases))

    def start(self, action: act.StartBuild, now: float) -> None:
        changes = [self.repos.changes[c.ref] for c in (action.change, *action.more)]
        change = next(c for c in changes if any(j.name == action.job for j in c.jobs))
        spec = change.job(action.job)
        post = action.pipeline == POST_PIPELINE
        projects = len({project for project, _, _ in action.state})
        ready = self.engine.run(now, self.costs.workspace_seconds(projects, self.strategy.repository))
        run = Run(action.build, action.item, action.pipeline, change, action.job, action.state,
                  tuple(name.split(":", 1)[1] for name in action.chain[:-len(changes)]), now, ready,
                  self.luck.outcome(changes, action.job, action.state),
                  batch_seconds(changes, action.job) + (self.costs.publish if post else 0.0),
                  changes=tuple(c.id for c in changes))
        self.result.runs.append(run)
        self.running[run.id] = run
        if self.strategy.export_waits_for_head and spec.export and not post:
            self.waiting[run.id] = run
        else:
            self.begin(run, now)

    def begin(self, run: Run, now: float) -> None:
        run.clock = max(now, run.ready)
        self.push(ev.BuildCompleted(run.clock + run.seconds_of_work, run.id, run.result))

    def release_exports(self, now: float) -> None:
        """An export waiting for the head starts once what it is built on has
        landed and its item's other jobs on the same state succeeded."""
        for run in list(self.waiting.values()):
            if all(c in self.repos.landed_at for c in run.ahead) and all(
                    (run.item, run.state, j.name) in self.succeeded
                    for j in run.change.jobs if j.name != run.job and self.strategy.gates(j)):
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
            if run.pipeline == POST_PIPELINE:
                self.publish(run.change.id, run.state, event.at)
        else:
            self.give_up_waiting(run, event.at)
        return True

    def give_up_waiting(self, failed: Run, now: float) -> None:
        """An export waiting for its item's other jobs fails when one of them
        fails (as wait-for-other-jobs did), rather than hold its worker forever."""
        for run in list(self.waiting.values()):
            if (run.item, run.state) == (failed.item, failed.state):
                del self.waiting[run.id]
                run.result, run.clock = JobResult.FAILURE, now
                self.push(ev.BuildCompleted(now, run.id, run.result))

    def cancel(self, build: str, now: float) -> None:
        run = self.running.pop(build, None)
        if run is not None:
            self.waiting.pop(build, None)
            run.ended, run.cancelled = now, True

    def land(self, action: act.Land, now: float) -> None:
        ok = self.repos.land_all([((m.project, m.branch), m.old, m.new) for m in action.moves])
        if ok:
            tips = {(m.project, m.branch): m.new for m in action.moves}
            for c in action.changes:
                self.landed_states[c.ref] = (action.state, tips[(c.project, c.branch)])
        publishes = ok and self.publishes_at_landing(action)
        at = self.engine.run(now, self.costs.publish) if publishes else now
        if publishes:
            self.publish(action.change.ref, action.state, at)
        self.push(ev.LandCompleted(at, action.item, action.generation, ok,
                                   action.new if ok else None, None if ok else "tip moved"))

    def publishes_at_landing(self, action: act.Land) -> bool:
        if self.strategy.export is ExportAt.GATE:
            return bool(action.publish)
        return self.strategy.export is ExportAt.HEAD and any(
            j.export for j in self.repos.changes[action.change.ref].jobs)

    def publish(self, change: str, state: SpecState, at: float) -> None:
        self.result.publications.append(Publication(at, change, self.repos.is_tips(state)))

    # -- what the developers do ---------------------------------------------

    def report(self, record: dict, now: float) -> None:
        if record["pipeline"] != PIPELINE:
            self.result.post_reports.append(record)
            return
        change = self.repos.changes[record["change"]]
        self.result.reports.setdefault(change.id, []).append(record)
        self.in_gate.discard(change.id)
        if record["result"] == "merged":
            if self.strategy.export is ExportAt.POST and any(j.export for j in change.jobs):
                self.push(ev.EnqueueRequested(now, POST_PIPELINE, landed_change(change)))
            return
        again = self.developers.removed(change, now, self.out_of_gate)
        if again is not None:
            self.push(ev.EnqueueRequested(again, PIPELINE, as_change(change, self.repos)))

    def approved(self, change: str, now: float) -> None:
        """A change entered the gate: the changes parked on it may follow."""
        self.in_gate.add(change)
        for other in self.developers.back(self.out_of_gate):
            self.push(ev.EnqueueRequested(now, PIPELINE, as_change(self.repos.changes[other], self.repos)))

    def out_of_gate(self, change: str) -> bool:
        return change not in self.in_gate and change not in self.repos.landed_at


def batch_seconds(changes: list[TraceChange], job: str) -> float:
    """How long one build of `job` runs for the changes of an item: the
    longest of theirs, since the job runs once on their combined state; a
    `per_project` job (a package build) does that for each of their projects."""
    specs = [(c.project, c.job(job)) for c in changes if any(j.name == job for j in c.jobs)]
    if len(specs) == 1:
        return specs[0][1].duration
    if not specs[0][1].per_project:
        return max(spec.duration for _, spec in specs)
    longest: dict[str, float] = {}
    for project, spec in specs:
        longest[project] = max(longest.get(project, 0.0), spec.duration)
    return sum(longest.values())


def as_change(c: TraceChange, repos: Repos) -> Change:
    """The engine's view of a trace change: its commits name its dependencies."""
    return Change(c.project, c.id, c.branch, f"r-{c.id}",
                  frozenset(f"r-{d}" for d in repos.with_dependencies(c)))


def landed_change(c: TraceChange) -> Change:
    """A landed change as a post pipeline sees it: a branch update, needing nothing."""
    return Change(c.project, c.id, c.branch, f"r-{c.id}", frozenset({f"r-{c.id}"}))


def simulate(trace: Trace, strategy: Strategy, workers: int | None = None, seed: int = 0,
             costs: Costs = FREE, recheck: Recheck = NO_RECHECK) -> SimResult:
    return World(trace, strategy, workers, seed, costs, recheck).run()
