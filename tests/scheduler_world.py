"""A tiny deterministic world around the pure scheduler, for scenario tests.

Merges are strings (the chain of changes they contain), builds finish when a
test says so, and landings compare-and-swap a dict of branch tips. It lets
tests state queue semantics without git; the real-git tests cover the rest.
"""
from __future__ import annotations

from gateq.config.model import BatchKind, Job, Layout, Manager, Pipeline, Project, Trigger, Window
from gateq.core import actions as act
from gateq.core import events as ev
from gateq.core.scheduler import Scheduler
from gateq.core.snapshot import snapshot
from gateq.core.types import Change, JobResult, MergeFailure, state_dict, state_tuple


def layout(jobs=("unit",), window=Window(), projects=("nova", "ceilometer"), voting=None,
           deps=None, export=None, requires=None, fail_fast=True, merge_in_window_only=False,
           attempts=None, batch_size=1, batch_kind=BatchKind.ANY, excuse=False) -> Layout:
    voting, deps, export, requires = voting or {}, deps or {}, export or {}, requires or {}
    attempts = attempts or {}
    return Layout(
        pipelines={"gate": Pipeline("gate", Manager.DEPENDENT, (Trigger("git", "approved"),),
                                    merge_on_success=True, window=window, fail_fast=fail_fast,
                                    merge_in_window_only=merge_in_window_only, batch_size=batch_size,
                                    batch_kind=batch_kind, excuse_base_failures=excuse),
                   "check": Pipeline("check", Manager.INDEPENDENT, (Trigger("git", "proposed"),))},
        jobs={j: Job(j, "/bin/true", voting=voting.get(j, True), dependencies=tuple(deps.get(j, ())),
                     export=export.get(j), requires=tuple(requires.get(j, ())),
                     attempts=attempts.get(j, 1))
              for j in jobs},
        projects={p: Project(p, "git", queue="shared", pipelines={"gate": tuple(jobs), "check": tuple(jobs)})
                  for p in projects},
        queues=frozenset({"shared"}))


class World:
    def __init__(self, lay: Layout | None = None, slots: int = 100):
        self.scheduler = Scheduler(lay or layout(), slots)
        self.tips = {(p, "main"): "tip" for p in self.scheduler.layout.projects}
        self.running: dict[str, act.StartBuild] = {}
        self.started: list[act.StartBuild] = []
        self.conflicts: set[tuple[str, str]] = set()    # (earlier ref, later ref)
        self.missing: dict[str, MergeFailure] = {}        # ref -> why it cannot be merged at all
        self.merged: list[str] = []                       # refs, in the order their merges were asked
        self.results: list[dict] = []
        self.landed: list[str] = []
        self.lands: list[act.Land] = []
        self.now = 0.0
        self.hold_merges = False
        self.held: list[act.PrepareMerge] = []

    # -- inputs -------------------------------------------------------------

    def feed(self, event) -> None:
        self.handle(self.scheduler.step(event))

    def tick(self) -> float:
        self.now += 1
        return self.now

    def approve(self, ref: str, project: str = "nova", commits=()) -> None:
        change = Change(project, ref, "main", f"rev-{ref}", frozenset({f"rev-{ref}", *commits}))
        self.feed(ev.TriggerEvent(self.tick(), "git", "approved", change))

    def finish(self, ref: str, job: str = "unit", result: JobResult = JobResult.SUCCESS,
               control: bool = False) -> None:
        """End the running build of `job` for the item holding `ref` (first or
        not); `control`: its control build on the item's base instead."""
        build = next(b for b in self.running.values()
                     if ref in (b.change.ref, *(c.ref for c in b.more)) and b.job == job
                     and b.control is control)
        del self.running[build.build]
        self.feed(ev.BuildCompleted(self.tick(), build.build, result))

    def fail(self, ref: str, job: str = "unit") -> None:
        self.finish(ref, job, JobResult.FAILURE)

    def release_merges(self) -> None:
        held, self.held, self.hold_merges = self.held, [], False
        for action in held:
            self.merge(action)

    # -- what the adapters would do ------------------------------------------

    def handle(self, actions) -> None:
        for action in actions:
            if isinstance(action, act.PrepareMerge):
                self.held.append(action) if self.hold_merges else self.merge(action)
            elif isinstance(action, act.StartBuild):
                self.running[action.build] = action
                self.started.append(action)
            elif isinstance(action, act.CancelBuild):
                self.running.pop(action.build, None)
            elif isinstance(action, act.Land):
                self.lands.append(action)
                self.land(action)
            elif isinstance(action, act.Report):
                self.results.append(action.record.as_dict())

    def merge(self, action: act.PrepareMerge) -> None:
        """Each change of the item in turn onto the state so far."""
        state = state_dict(action.base)
        for key in action.need:
            if key in self.tips:
                state.setdefault(key, self.tips[key])
        below = dict(state)
        for change, _ in action.steps:
            failure = self.merge_one(state, change)
            if failure is not None:
                self.feed(ev.MergeCompleted(self.tick(), action.item, action.generation,
                                            failure=failure[0], reason=failure[1]))
                return
        own = (action.change.project, action.change.branch)
        bases = tuple(sorted((p, b, below[(p, b)]) for (p, b), commit in state.items()
                             if commit != below[(p, b)] and (p, b) != own))
        self.feed(ev.MergeCompleted(self.tick(), action.item, action.generation,
                                    state_tuple(state), below[own], bases=bases))

    def merge_one(self, state: dict, change) -> tuple[MergeFailure, str] | None:
        self.merged.append(change.ref)
        if change.ref in self.missing:
            kind = self.missing[change.ref]
            return kind, f"{change.ref}: {kind.value}"
        key = (change.project, change.branch)
        inside = " ".join(state.values())
        for earlier, later in self.conflicts:
            if later == change.ref and earlier in inside:
                return MergeFailure.CONFLICT, f"conflict with {earlier}"
        state[key] = f"{state[key]}+{change.ref}"
        return None

    def land(self, action: act.Land) -> None:
        ok = all(self.tips[(m.project, m.branch)] == m.old for m in action.moves)
        if ok:
            for m in action.moves:
                self.tips[(m.project, m.branch)] = m.new
            self.landed += [c.ref for c in action.changes]
        self.feed(ev.LandCompleted(self.tick(), action.item, action.generation, ok,
                                   action.new if ok else None, None if ok else "moved"))

    # -- what tests look at -----------------------------------------------------

    def running_chains(self) -> dict[str, tuple[str, ...]]:
        """Per running build, its chain; a batch's build is keyed by its changes, joined by '+'."""
        return {"+".join([b.change.ref, *(c.ref for c in b.more)]): tuple(c.split(":")[1] for c in b.chain)
                for b in self.running.values()}

    def result_of(self, ref: str) -> dict:
        return next(r for r in self.results if r["change"] == ref)

    def item(self, ref: str, pipeline: str = "gate") -> dict:
        """The status view of the queued item holding `ref` (`gateq status --json`)."""
        items = [i for p in snapshot(self.scheduler)["pipelines"] if p["name"] == pipeline
                 for q in p["queues"] for i in q["items"]]
        return next(i for i in items if ref in (c["change"] for c in i["changes"]))

    def queue_refs(self, pipeline: str = "gate") -> list[str]:
        pstate = self.scheduler.state.pipelines.get(pipeline)
        return [c.ref for q in (pstate.queues.values() if pstate else ()) for i in q.items for c in i.changes]
