"""Random gates for property tests of the scheduling core: a random layout
and a random world that answers the scheduler's actions in a random order
(merges that conflict or find their change gone, builds that fail, landings
that lose their compare-and-swap) and adds requests (enqueue, a new
revision, dequeue, promote, a restart).

`Drive.events()` yields the events one at a time, each worked out from the
actions answered so far; feed them to one or more schedulers and hand the
actions of one of them back with `Drive.handle`.
"""
from __future__ import annotations

import random

from gateq.config.model import BatchKind, Job, Layout, Manager, Pipeline, Project, Trigger, Window
from gateq.core import actions as act
from gateq.core import events as ev
from gateq.core.types import Change, JobResult, MergeFailure, state_dict, state_tuple

RESUME = "resume"          # not an event: the engine restarted


def random_layout(rng: random.Random, newer: bool = False) -> Layout:
    """`newer`: also the settings the old full pass (tests/core_reference.py)
    does not know: jobs retried (attempts), batches (batch_size, batch_kind),
    failures its base shares excused (excuse_base_failures)."""
    jobs = [f"j{i}" for i in range(rng.randint(1, 3))]
    repos = ("r1", "r2")[:rng.randint(0, 2)]
    job_defs = {}
    for name in jobs:
        deps = tuple(d for d in jobs if d != name and rng.random() < 0.3)
        job_defs[name] = Job(name, "/bin/true", voting=rng.random() < 0.85, dependencies=deps,
                             export=rng.choice((None, *repos)) if repos else None,
                             requires=tuple(r for r in repos if rng.random() < 0.4),
                             attempts=rng.choice((1, 2, 3)) if newer else 1)
    shared = rng.random() < 0.7
    projects = {p: Project(p, "git", queue="shared" if shared else None,
                           pipelines={"gate": tuple(rng.sample(jobs, len(jobs))),
                                      "check": tuple(jobs[:1]), "post": tuple(jobs[-1:])})
                for p in ("nova", "glance", "swift")[:rng.randint(1, 3)]}

    def window() -> Window:
        floor = rng.randint(0, 2)
        return Window(initial=rng.randint(max(1, floor), 5), floor=floor,
                      ceiling=rng.choice((None, 4, 6)),
                      increase_type=rng.choice(("linear", "exponential")),
                      increase_factor=rng.randint(1, 2),
                      decrease_type=rng.choice(("linear", "exponential", "none")),
                      decrease_factor=rng.randint(1, 2))
    pipelines = {
        "gate": Pipeline("gate", Manager.DEPENDENT, (Trigger("git", "approved"),),
                         merge_on_success=rng.random() < 0.8, window=window(),
                         fail_fast=rng.random() < 0.6, merge_in_window_only=rng.random() < 0.4,
                         batch_size=rng.choice((1, 2, 4)) if newer else 1,
                         batch_kind=rng.choice(tuple(BatchKind)) if newer else BatchKind.ANY,
                         excuse_base_failures=newer and rng.random() < 0.5),
        "check": Pipeline("check", Manager.INDEPENDENT, (Trigger("git", "proposed"),),
                          fail_fast=rng.random() < 0.6),
        "post": Pipeline("post", Manager.DEPENDENT, (Trigger("git", "approved"),),
                         window=window(), fail_fast=rng.random() < 0.6),
    }
    if rng.random() < 0.5:
        del pipelines["post"]
    return Layout(pipelines=pipelines, jobs=job_defs, projects=projects,
                  queues=frozenset({"shared"}), repositories={})


class Drive:
    def __init__(self, seed: int, steps: int = 120, newer: bool = False):
        self.rng = random.Random(seed)
        self.layout = random_layout(self.rng, newer)
        self.slots = self.rng.randint(1, 6)
        self.steps = steps
        self.now = 0.0
        self.merges: list[act.PrepareMerge] = []
        self.answered: list[ev.MergeCompleted] = []
        self.running: dict[str, act.StartBuild] = {}
        self.lands: list[act.Land] = []
        self.changes: list[Change] = []       # every change ever proposed
        self.revision = 0

    def handle(self, actions: list) -> None:
        for a in actions:
            if isinstance(a, act.PrepareMerge):
                self.merges.append(a)
            elif isinstance(a, act.StartBuild):
                self.running[a.build] = a
            elif isinstance(a, act.CancelBuild):
                self.running.pop(a.build, None)
            elif isinstance(a, act.Land):
                self.lands.append(a)

    def tick(self) -> float:
        self.now += self.rng.choice((0.0, 1.0, 2.5))
        return self.now

    def events(self):
        for _ in range(self.steps):
            yield self.next_event()

    def next_event(self):
        choices = [(self.new_change, 3), (self.answer_merge, 4 * bool(self.merges)),
                   (self.end_build, 4 * bool(self.running)), (self.answer_land, 3 * bool(self.lands)),
                   (self.request, 1), (self.stale, bool(self.answered)), (lambda: RESUME, 0.2)]
        funcs, weights = zip(*choices)
        return self.rng.choices(funcs, weights)[0]()

    def new_change(self):
        project = self.rng.choice(sorted(self.layout.projects))
        ref = self.rng.choice(("a", "b", "c", "d", "e", "f", "g"))
        self.revision += 1
        commits = {f"rev{self.revision}"}
        needed = [c for c in self.changes if c.project == project]
        if needed and self.rng.random() < 0.25:
            commits.add(self.rng.choice(needed).revision)
        change = Change(project, ref, "main", f"rev{self.revision}", frozenset(commits))
        self.changes.append(change)
        kind = self.rng.choice(("approved", "approved", "proposed"))
        if self.rng.random() < 0.2:
            return ev.EnqueueRequested(self.tick(), self.rng.choice(sorted(self.layout.pipelines)), change)
        return ev.TriggerEvent(self.tick(), "git", kind, change)

    def answer_merge(self):
        a = self.merges.pop(self.rng.randrange(len(self.merges)))
        roll = self.rng.random()
        if roll < 0.12:
            event = ev.MergeCompleted(self.tick(), a.item, a.generation, failure=MergeFailure.CONFLICT,
                                      reason=f"merge conflict in {a.change.project}: {a.change.ref}")
        elif roll < 0.15:
            kind = self.rng.choice((MergeFailure.CHANGE_MISSING, MergeFailure.BRANCH_MISSING))
            event = ev.MergeCompleted(self.tick(), a.item, a.generation, failure=kind, reason=kind.value)
        else:
            state = state_dict(a.base)
            for key in a.need:
                state.setdefault(key, "tip")
            key = (a.change.project, a.change.branch)
            base = state[key]
            state[key] = f"m{a.item}.{a.generation}"
            event = ev.MergeCompleted(self.tick(), a.item, a.generation, state_tuple(state), base)
        self.answered.append(event)
        return event

    def end_build(self):
        build = self.rng.choice(sorted(self.running))
        del self.running[build]
        result = self.rng.choices((JobResult.SUCCESS, JobResult.FAILURE, JobResult.TIMED_OUT), (8, 2, 1))[0]
        return ev.BuildCompleted(self.tick(), build, result,
                                 "killed" if result is JobResult.TIMED_OUT else None)

    def answer_land(self):
        a = self.lands.pop(self.rng.randrange(len(self.lands)))
        ok = self.rng.random() < 0.85
        return ev.LandCompleted(self.tick(), a.item, a.generation, ok, a.new if ok else None,
                                None if ok else "moved", (("r1", 3),) if ok and self.rng.random() < 0.3 else ())

    def request(self):
        change = self.rng.choice(self.changes) if self.changes else Change("nova", "a", "main", "r0")
        cls = self.rng.choice((ev.DequeueRequested, ev.PromoteRequested))
        ref = change.ref if self.rng.random() < 0.5 else f"refs/heads/{change.ref}"
        return cls(self.tick(), self.rng.choice(sorted(self.layout.pipelines)), change.project, ref)

    def stale(self):
        """An answer that arrives twice (a replayed journal row, a slow merger)."""
        return self.rng.choice(self.answered)

    def restart(self) -> None:
        """After a restart nothing in flight is answered: it is asked again."""
        self.merges, self.running, self.lands = [], {}, []
