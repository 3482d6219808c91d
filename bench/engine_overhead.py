"""Benchmark: the engine's own time per landed change, beyond the job's.

The trace: a generated gate (tests/gate_fixture.py) of 4 projects sharing
one dependent queue, whose only job prints `ok`; N one-file changes spread
round-robin over the projects (branches made by one `git fast-import` per
project), all approved through `gateq event approved` before the engine
starts; then `gateq run --until-idle` in a process of its own, as a user
runs it: the real engine, git, sandbox and job processes, bytecode cached
as an installed gateq's is. Every change must land (the count is printed).

Engine time beyond the job, per landed change = (W - J) / L, where W is the
wall time of `gateq run --until-idle`, L the changes landed and J the time
during which at least one job ran: the union of the jobs' own intervals
(each the duration the executor measured, ending when the build was
reported). With parallel build slots overlapping jobs count once: J is what
the jobs put on the critical path, so an engine costing nothing would take
J, and W - J is the time the gate waited on the engine alone. A job's
measured duration includes its sandbox (bwrap) and its overlays' mounts,
which are the engine's doing, so a second, stricter figure counts them as
the engine's: (W - L * S) / L, S the bare script's own run time (measured
apart, median of 20 runs). The engine's start and stop are in W; an idle
run's time is printed beside them, and the CPU time (user + system) of the
engine and every process it started, per change, split into the engine's
own process and its main thread (the gate loop; bench/profiled.py --usage
reads them) and the rest (git, the jobs): on a machine shared with others,
wall time also counts their load, CPU time much less so.
Target: at most 50 ms per change, and flat: the largest N within 1.2x of
the smallest per change. Sizes run side by side in each trial
(interleaved, so each sees the same load); min/median/max over --trials.
--profile N runs one more trace of N changes under bench/profiled.py
(cProfile of every engine thread, subprocesses counted by command).
Usage: python bench/engine_overhead.py [--changes 50 200 500] [--trials 3] [--quick]
       [--profile 200 [--profile-out DIR]]
"""
from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gate_fixture import GIT_ENV, Gate  # noqa: E402

PROJECTS = ("nova", "glance", "keystone", "cinder")
OK_JOB = "- job: {name: ok, run: jobs/ok.sh}\n"
TARGET_MS = 50.0
FLAT = 1.2          # per-change time at the largest N over the smallest's
DEFINITION = ("beyond the job = (wall - J) / landed, J = time at least one job ran (union of "
              "the jobs' own intervals, sandbox and mounts included: overlapping jobs count once);\n"
              "beyond the script = (wall - landed * S) / landed, S = the bare script's own time "
              "(the sandbox and mounts counted as the engine's)")


def trivial_gate(root: str) -> Gate:
    gate = Gate(root, projects=PROJECTS, jobs=OK_JOB, project_jobs=("ok",))
    gate.write_job("ok.sh", "#!/bin/sh\necho ok\n")
    return gate


def add_changes(gate: Gate, count: int) -> list[tuple[str, str]]:
    """`count` changes (branch cN adding cN.txt on main), round-robin over
    the projects, approved in order; [(project, ref)]."""
    changes = [(PROJECTS[n % len(PROJECTS)], f"c{n}") for n in range(count)]
    for project in PROJECTS:
        tip = gate.tip(project)
        stream = "".join(
            f"commit refs/heads/{ref}\ncommitter Tester <t@example.org> 0 +0000\n"
            f"data {len(f'Change {ref}')}\nChange {ref}\nfrom {tip}\n"
            f"M 644 inline {ref}.txt\ndata {len(ref) + 1}\n{ref}\n\n"
            for p, ref in changes if p == project)
        subprocess.run(["git", "fast-import", "--quiet"], cwd=gate.bare(project), check=True,
                       input=stream, text=True, env={**os.environ, **GIT_ENV})
    for project, ref in changes:
        gate.approve(project, ref)
    return changes


def engine_command(gate: Gate) -> list[str]:
    return ["-m", "gateq.cli", "-c", gate.config, "run", "--until-idle"]


def engine_env(pycache: str) -> dict[str, str]:
    """Bytecode cached (in `pycache`, outside the tree) as an installed gateq's
    is: where PYTHONDONTWRITEBYTECODE is set, each start would compile gateq."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": pycache}


@dataclass(frozen=True)
class Timed:
    """One `gateq run --until-idle`: seconds of wall and of CPU (user + system)."""
    wall: float
    cpu: float              # the engine and every process it started
    engine_cpu: float       # the engine's process alone (its Python, every thread)
    loop_cpu: float         # the engine's main thread: the gate loop


def run_engine(gate: Gate, pycache: str, profile: tuple[str, ...] = ()) -> Timed:
    """Time `gateq run --until-idle`, started through bench/profiled.py (which
    instruments nothing unless given `profile`, its --out and --calls
    options); its log goes to <root>/engine.log."""
    usage = os.path.join(gate.root, "engine-cpu.json")
    launcher = [os.path.join(ROOT, "bench", "profiled.py"), *profile, "--usage", usage]
    with open(os.path.join(gate.root, "engine.log"), "a") as log:
        cpu = children_cpu()
        began = time.perf_counter()
        done = subprocess.run([sys.executable, *launcher, *engine_command(gate)],
                              cwd=ROOT, stdout=log, stderr=log, env=engine_env(pycache))
        took = time.perf_counter() - began
    if done.returncode != 0:            # the gate's directory goes: say what the engine said
        with open(os.path.join(gate.root, "engine.log")) as log:
            said = log.read().strip().splitlines()[-1:] or ["nothing"]
        sys.exit(f"gateq run --until-idle exited {done.returncode}; its last line: {said[0]}")
    with open(usage) as f:
        own = json.load(f)
    return Timed(took, children_cpu() - cpu, own["process"], own["main_thread"])


def children_cpu() -> float:
    """User + system seconds of this process's children and theirs, once waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def script_time(gate: Gate, runs: int = 20) -> float:
    """The bare job script's own run time (no sandbox, no mounts), median seconds."""
    script = os.path.join(gate.config, "jobs", "ok.sh")
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([script], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of [start, end] intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


@dataclass(frozen=True)
class Run:
    changes: int
    landed: int
    wall: float
    jobs_busy: float        # J: time at least one job ran
    jobs_sum: float         # the jobs' durations added up
    script: float           # S: the bare script's own time
    cpu: float              # CPU seconds of the engine and all it started
    engine_cpu: float       # of which the engine's own process
    loop_cpu: float         # of which its main thread
    idle_run: float         # an idle `gateq run --until-idle` on the same gate, after

    @property
    def beyond(self) -> float:
        """Engine seconds per landed change beyond the job (as measured, sandbox included)."""
        return (self.wall - self.jobs_busy) / self.landed

    @property
    def beyond_script(self) -> float:
        """Engine seconds per landed change beyond the bare script."""
        return self.wall / self.landed - self.script


def one_run(changes: int, tmp: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="gateq-engine-overhead-", dir=tmp) as root:
        gate = trivial_gate(root)
        add_changes(gate, changes)
        pycache = os.path.join(tmp, "pycache")
        timed = run_engine(gate, pycache)
        idle = run_engine(gate, pycache).wall
        results = gate.results()
        jobs = [j for r in results for j in r["jobs"] if j["duration"] is not None]
        landed = sum(len(gate.landed(p)) for p in PROJECTS)
        merged = sum(r["result"] == "merged" for r in results)
        if landed != merged:
            sys.exit(f"{landed} changes landed in git but {merged} results say merged")
        return Run(changes, landed, timed.wall,
                   busy_time([(j["finished_at"] - j["duration"], j["finished_at"]) for j in jobs]),
                   sum(j["duration"] for j in jobs), script_time(gate), timed.cpu, timed.engine_cpu,
                   timed.loop_cpu, idle)


def ms(xs: list[float]) -> str:
    """min / median / max, in milliseconds."""
    return "/".join(f"{x * 1000:.1f}" for x in (min(xs), statistics.median(xs), max(xs)))


def report(runs: dict[int, list[Run]]) -> None:
    print(DEFINITION)
    print("ms per landed change, min/median/max over trials")
    for n, rs in runs.items():
        print(f"  N={n:4d}: landed {'/'.join(str(r.landed) for r in rs)} of {n}\n"
              f"    beyond the job {ms([r.beyond for r in rs])}, beyond the script "
              f"{ms([r.beyond_script for r in rs])}\n"
              f"    wall {ms([r.wall / r.landed for r in rs])}, J {ms([r.jobs_busy / r.landed for r in rs])} "
              f"(jobs' own sum {ms([r.jobs_sum / r.landed for r in rs])}, bare script "
              f"{ms([r.script for r in rs])})\n"
              f"    CPU {ms([r.cpu / r.landed for r in rs])}: the engine's process "
              f"{ms([r.engine_cpu / r.landed for r in rs])}, its loop {ms([r.loop_cpu / r.landed for r in rs])}"
              f" (the rest: git and the jobs)\n"
              f"    an idle run: {ms([r.idle_run for r in rs])} ms in all")
    all_landed = all(r.landed == r.changes for rs in runs.values() for r in rs)
    print(f"landed == N in every run: {'yes' if all_landed else 'NO'}")
    for what, figure in (("beyond the job", Run.beyond), ("beyond the script", Run.beyond_script)):
        verdict(runs, what, figure.fget)


def verdict(runs: dict[int, list[Run]], what: str, figure) -> None:
    """Flatness (largest N over smallest, per change) and the 50 ms target, for one figure."""
    sizes = sorted(runs)
    small, large = sizes[0], sizes[-1]
    worst = max(figure(r) for rs in runs.values() for r in rs)
    line = f"{what}: target <= {TARGET_MS:.0f} ms at every N " \
           f"{'met' if worst * 1000 <= TARGET_MS else 'NOT met'} (worst {worst * 1000:.1f} ms)"
    if large != small:
        ratios = [figure(b) / figure(a) for a, b in zip(runs[small], runs[large])]
        flat = statistics.median(map(figure, runs[large])) / statistics.median(map(figure, runs[small]))
        line += (f"; N={large} over N={small}: median {flat:.2f}x (per trial {min(ratios):.2f}x-"
                 f"{max(ratios):.2f}x), flat (<= {FLAT}x) {'met' if flat <= FLAT else 'NOT met'}")
    print(line)


# -- the profile ---------------------------------------------------------------

# Where own time goes, by the function's file and name (the first that matches).
AREAS = (
    ("waiting (queues, poll, locks)", ("SimpleQueue", "select.poll", "select.epoll", "_thread.lock",
                                       "time.sleep")),
    ("spawning processes", ("fork_exec",)),
    ("sqlite (journal, results, status)", ("sqlite3",)),
    ("json", ("json/",)),
    ("files and directories", ("posix.", "shutil.py", "os>")),
    ("gateq scheduling core", ("gateq/core/",)),
    ("gateq, other", ("gateq/",)),
)
WAITING = AREAS[0][1]
PLUMBING = ("threading.py", "runpy", "bench/profiled.py", "workers.py", "subprocess.py", "selectors.py")


def area_of(path: str, name: str) -> str:
    where = f"{path} {name}"
    return next((area for area, marks in AREAS if any(m in where for m in marks)), "other")


def profile_run(changes: int, out_dir: str, tmp: str, top: int) -> None:
    os.makedirs(out_dir, exist_ok=True)
    prof = os.path.join(out_dir, f"engine-{changes}.prof")
    calls = os.path.join(out_dir, f"engine-{changes}.json")
    with tempfile.TemporaryDirectory(prefix="gateq-engine-profile-", dir=tmp) as root:
        gate = trivial_gate(root)
        add_changes(gate, changes)
        wall = run_engine(gate, os.path.join(tmp, "pycache"), ("--out", prof, "--calls", calls)).wall
        landed = sum(len(gate.landed(p)) for p in PROJECTS)
    print(f"profile of {changes} changes: {landed} landed, {wall:.2f} s under the profiler "
          f"({wall / landed * 1000:.1f} ms per change); {prof}")
    counted = json.load(open(calls))
    print("subprocesses per landed change (calls; ms the caller waited in subprocess.run):")
    for command, n in sorted(counted["started"].items(), key=lambda kv: -kv[1]):
        waited = counted["waited"].get(command, 0.0)
        print(f"  {command:28s} {n / landed:6.2f}  {waited / landed * 1000:7.2f} ms")
    print(f"  {'all':28s} {sum(counted['started'].values()) / landed:6.2f}  "
          f"{sum(counted['waited'].values()) / landed * 1000:7.2f} ms")
    stats = pstats.Stats(prof)
    print(f"top {top} functions by cumulative time, ms per landed change (all threads added up; "
          "waits, thread and subprocess plumbing left out):")
    rows = sorted(((key, value) for key, value in stats.stats.items()
                   if not any(m in f"{key[0]} {key[2]}" for m in WAITING + PLUMBING)),
                  key=lambda kv: -kv[1][3])
    for (path, line, name), (_, calls_n, own, cumulative, _) in rows[:top]:
        where = path.replace(ROOT + "/", "").replace(sys.prefix, "<py>")
        print(f"  {cumulative / landed * 1000:8.2f} cum {own / landed * 1000:7.2f} own "
              f"{calls_n / landed:8.1f} calls  {where}:{line} {name}")
    print("own time by area, ms per landed change (all threads):")
    areas: dict[str, float] = {}
    for (path, _, name), (_, _, own, _, _) in stats.stats.items():
        area = area_of(path, name)
        areas[area] = areas.get(area, 0.0) + own
    for area, own in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {area:36s} {own / landed * 1000:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 and 60 changes, one trial")
    parser.add_argument("--profile", type=int, metavar="N", help="then profile a run of N changes")
    parser.add_argument("--profile-out", default="bench-profile", help="where the profile goes")
    parser.add_argument("--top", type=int, default=40, help="functions the profile lists")
    parser.add_argument("--tmp", default=None, help="where to make the gates")
    args = parser.parse_args()
    sizes, trials = ((20, 60), 1) if args.quick else (tuple(args.changes), args.trials)
    if args.tmp:
        os.makedirs(args.tmp, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gateq-engine-overhead-", dir=args.tmp) as tmp:
        warm_up(tmp)
        measure(sizes, trials, tmp)
        if args.profile:
            profile_run(args.profile, args.profile_out, tmp, args.top)


def warm_up(tmp: str) -> None:
    """One small run first: the bytecode cache is filled, the page cache warm."""
    one_run(4, tmp)


def measure(sizes: tuple[int, ...], trials: int, tmp: str) -> None:
    if trials > 0 and sizes:
        runs: dict[int, list[Run]] = {n: [] for n in sizes}
        for trial in range(trials):
            for n in sizes:
                run = one_run(n, tmp)
                runs[n].append(run)
                print(f"trial {trial + 1}, N={n}: {run.landed} landed, wall {run.wall:.2f} s, "
                      f"{run.beyond * 1000:.1f} ms per change beyond the job, "
                      f"{run.beyond_script * 1000:.1f} beyond the script; CPU {run.cpu / run.landed * 1000:.1f}"
                      f" (loop {run.loop_cpu / run.landed * 1000:.1f})", flush=True)
        report(runs)


if __name__ == "__main__":
    main()
