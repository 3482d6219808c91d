"""Synthetic traces: a day of arrivals with bursts, bad and flaky changes,
job durations, an export job and textual conflicts, from named presets.

Every knob is one row of PARAMS (name, default, help): the CLI's --param,
the presets and docs/simulator.md all read that table.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, replace

from .trace import Trace, TraceChange, TraceJob, dump_trace, parse_trace


@dataclass(frozen=True)
class Params:
    hours: float = 24.0
    changes_per_hour: float = 10.0
    peak_ratio: float = 1.0
    burst_probability: float = 0.1
    burst_size: float = 4.0
    burst_seconds: float = 600.0
    burst_chain: bool = False
    failure_rate: float = 0.05
    flake_rate: float = 0.005
    projects: int = 10
    queues: int = 1
    build_minutes: float = 0.0
    test_jobs: int = 2
    test_minutes: float = 10.0
    test_spread: float = 0.3
    export_minutes: float = 5.0
    export_spread: float = 0.2
    installs_exports: bool = False
    conflict_rate: float = 0.02
    conflict_reach: int = 5
    load: float = 0.8


HELP = {
    "hours": "length of the day: changes arrive within it",
    "changes_per_hour": "mean arrival rate of changes, bursts included",
    "peak_ratio": "busiest hour's rate over the quietest's (a daily sine; 1: flat)",
    "burst_probability": "chance that an arrival is a burst of several changes",
    "burst_size": "mean number of changes in a burst",
    "burst_seconds": "a burst's changes arrive within this many seconds",
    "burst_chain": "a burst is one project's patch series: each change depends on the one before",
    "failure_rate": "fraction of bad changes (each breaks one of its jobs wherever it is tested)",
    "flake_rate": "per-run probability that a job fails by chance",
    "projects": "number of projects",
    "queues": "number of shared change queues, projects spread over them round robin",
    "build_minutes": "median minutes of a build job the tests need (0: no build job)",
    "test_jobs": "number of test jobs, run in parallel",
    "test_minutes": "median minutes of a test job",
    "test_spread": "log-normal sigma of job durations around their median",
    "export_minutes": "median minutes of the export job, which needs every other job (0: none)",
    "export_spread": "log-normal sigma of the export job's duration",
    "installs_exports": "test jobs install the artifacts exported by the changes ahead (requires_export)",
    "conflict_rate": "chance that a change conflicts textually with a recent change of its project",
    "conflict_reach": "how many of its project's previous changes it may conflict with",
    "load": "sets meta.workers: one run of every job / (workers x hours) comes to this load",
}

PRESETS: dict[str, tuple[str, Params]] = {
    "review-hooks": ("code-review hooks: many small changes over many projects, low failure rate",
                     Params(changes_per_hour=14, peak_ratio=3, burst_probability=0.05, burst_size=3,
                            failure_rate=0.02, flake_rate=0.002, projects=40, queues=4, test_jobs=3,
                            test_minutes=4, test_spread=0.4, export_minutes=1, conflict_rate=0.01)),
    "distgit": ("distgit maintainers: bursts of dependent changes in one shared queue, long builds",
                Params(changes_per_hour=4, peak_ratio=2, burst_probability=0.3, burst_size=5,
                       burst_seconds=900, burst_chain=True, failure_rate=0.05, flake_rate=0.01,
                       projects=60, queues=1, build_minutes=20, test_jobs=1, test_minutes=30,
                       export_minutes=10, conflict_rate=0.02)),
    "publishing": ("publishing pipeline: few changes, an expensive export (compose) inside the gate",
                   Params(changes_per_hour=1, peak_ratio=2, burst_probability=0.0, failure_rate=0.05,
                          flake_rate=0.01, projects=3, queues=1, test_jobs=2, test_minutes=10,
                          export_minutes=40, conflict_rate=0.05)),
}


def preset(name: str, overrides: dict[str, str] | None = None) -> Params:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return with_overrides(PRESETS[name][1], overrides or {})


def with_overrides(params: Params, overrides: dict[str, str]) -> Params:
    """Apply NAME=VALUE strings, typed by the field's declared type (not by the
    preset's value: `changes_per_hour=4` in a preset is still a float)."""
    changes = {}
    declared = {f.name: str(f.type) for f in fields(params)}
    for name, text in overrides.items():
        key = name.replace("-", "_")
        if key not in declared:
            raise ValueError(f"unknown generator parameter '{name}' (see docs/simulator.md)")
        convert, what = CONVERTERS[declared[key]]
        try:
            changes[key] = convert(text)
        except ValueError:
            raise ValueError(f"generator parameter '{name}': '{text}' is not {what}") from None
    return replace(params, **changes)


def parse_bool(text: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.lower() not in words:
        raise ValueError(text)
    return words[text.lower()]


CONVERTERS = {"float": (float, "a number"), "int": (int, "a whole number"),
              "bool": (parse_bool, "true or false")}


def generate(params: Params, seed: int = 0, name: str = "custom") -> Trace:
    if params.build_minutes <= 0 and params.test_jobs <= 0:
        raise ValueError("generator: a change needs a build or a test job (build_minutes, test_jobs)")
    rng = random.Random(seed)
    projects = [f"p{i:02d}" for i in range(params.projects)]
    changes: list[TraceChange] = []
    recent: dict[str, list[str]] = {p: [] for p in projects}     # a project's last changes (branch main)
    for at in arrivals(params, rng):
        size = burst_size(params, rng)
        project = rng.choice(projects)
        before = None
        series: set[str] = set()           # a patch series' changes are built on each other
        offsets = sorted(rng.uniform(0, params.burst_seconds) for _ in range(size - 1))
        for k, offset in enumerate([0.0, *offsets]):
            when = at + offset
            if not params.burst_chain and k:
                project = rng.choice(projects)
            cid = f"c{len(changes) + 1}"
            changes.append(make_change(params, rng, cid, round(when, 1), project, projects,
                                       before if params.burst_chain else None,
                                       [c for c in recent[project] if c not in series]))
            recent[project] = (recent[project] + [cid])[-params.conflict_reach:]
            before = cid
            if params.burst_chain:
                series.add(cid)
    changes.sort(key=lambda c: (c.at, int(c.id[1:])))
    changes = [replace(c, line=i + 1) for i, c in enumerate(changes)]
    work = sum(j.duration for c in changes for j in c.jobs)
    workers = max(1, math.ceil(work / (params.hours * 3600 * params.load)))
    meta = {"generator": {"preset": name, "seed": seed, **{f.name: getattr(params, f.name)
                                                          for f in fields(params)}},
            "workers": workers}
    return parse_trace(dump_trace(Trace(f"<{name}>", tuple(changes), meta)), f"<{name}>")


def arrivals(params: Params, rng: random.Random):
    """Times of arrival events: a Poisson process thinned by a daily sine."""
    mean_size = 1 - params.burst_probability + params.burst_probability * params.burst_size
    low = 2 / (1 + params.peak_ratio)                  # rate multiplier at the quietest hour
    peak = params.changes_per_hour / mean_size / 3600 * (2 - low)
    t = 0.0
    while True:
        t += rng.expovariate(peak) if peak > 0 else math.inf
        if t >= params.hours * 3600:
            return
        shape = low + (2 - 2 * low) * (1 - math.cos(2 * math.pi * t / 86400)) / 2
        if rng.random() < shape / (2 - low):
            yield round(t, 1)


def burst_size(params: Params, rng: random.Random) -> int:
    if params.burst_size < 2 or rng.random() >= params.burst_probability:
        return 1
    return rng.randint(2, max(2, round(2 * params.burst_size) - 2))


def make_change(params: Params, rng: random.Random, cid: str, at: float, project: str,
                projects: list[str], depends: str | None, recent: list[str]) -> TraceChange:
    """Every draw is made whatever the rates, so that traces differing only in
    a rate differ only in what that rate decides. A textual conflict exists
    only within one project and branch, and never with a change it is built
    on: `recent` holds its project's previous changes outside its own series."""
    jobs = job_set(params, rng)
    bad_draw, broken = rng.random(), rng.choice([j.name for j in jobs if not j.export])
    conflict_draw, other = rng.random(), rng.choice(recent) if recent else None
    breaks = (broken,) if bad_draw < params.failure_rate else ()
    conflicts = (other,) if other and conflict_draw < params.conflict_rate else ()
    queue = f"q{projects.index(project) % max(1, params.queues)}"
    return TraceChange(cid, at, project, jobs, queue=queue, depends=(depends,) if depends else (),
                       breaks=breaks, conflicts=conflicts, flake=params.flake_rate)


def job_set(params: Params, rng: random.Random) -> tuple[TraceJob, ...]:
    def minutes(median: float, spread: float) -> float:
        return round(median * 60 * math.exp(rng.gauss(0, spread)), 1)
    jobs = []
    if params.build_minutes > 0:       # it builds the change's package: in a batch, each project's
        jobs.append(TraceJob("build", minutes(params.build_minutes, params.test_spread), per_project=True))
    needs = ("build",) if jobs else ()
    jobs += [TraceJob(f"test-{i + 1}", minutes(params.test_minutes, params.test_spread), needs,
                      requires_export=params.installs_exports and params.export_minutes > 0)
             for i in range(params.test_jobs)]
    if params.export_minutes > 0:
        jobs.append(TraceJob("export", minutes(params.export_minutes, params.export_spread),
                             tuple(j.name for j in jobs), export=True))
    return tuple(jobs)
