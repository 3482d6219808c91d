"""Benchmark: gating strategies against the bound, on the three presets.

For each preset (review-hooks, distgit, publishing) and failure rate (2%, 5%,
10%, 20%), generates a day of changes at 80% load (the presets' default) per
seed (--seeds, 30), runs zuul, zuul-post, gateq (its defaults) and the two
batching presets gateq-series and gateq-batch on the real scheduler with the
engine's measured costs and the recheck model on (5 minutes, 3 rounds), and
prints every figure as a mean with its 95% confidence interval, with each
strategy's speedup over zuul and its time over zuul-post's. Then the goal
line for distgit at 5% failure, for gateq's defaults and for the preset
docs/configuration.md recommends for such a queue (gateq-series), and what
the bound would be if no change could flake (the same traces, flakes off).
Seeds run in parallel (--processes, default: the machine's cores).

  python bench/strategies.py [--seeds 30] [--rates 0.02 0.05 0.1 0.2] [--hours 24]
  python bench/strategies.py --measure-costs     # time the real merger, workspaces
  python bench/strategies.py --tune-windows [--seeds 8]   # window settings per preset
  python bench/strategies.py --rejected-out      # what failing changes cost gateq

--tune-windows runs gateq's defaults and each preset's recommended strategy
with every window of WINDOWS on other seeds (100 on) than the table's, at 5%
and 20% failure, and prints, per preset, each window's mean time to land and
waste beside the default window's: how the presets' windows were chosen.

--rejected-out runs gateq's defaults and distgit's preset on distgit's days
at 5% and 20% failure twice: as they are, and with every change the bound
rejects taken out (bad changes, their dependents, conflicts). The gap is the
most that any handling of failing changes could gain (speculation on both
outcomes included): a free and perfect failure predictor, whose bad changes
cost no workers either.

serial is not in the table: at these arrival rates its queue never drains
(distgit's changes arrive faster than one critical path each), so its time
to land grows with the length of the trace and no ratio describes it; the
line after the table says how far below the arrival rate it lands.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.config.model import Window, WindowDecrease  # noqa: E402
from gateq.sim.bound import fates  # noqa: E402
from gateq.sim.compare import Settings, compare, speedup  # noqa: E402
from gateq.sim.generate import PRESETS, generate, preset  # noqa: E402
from gateq.sim.stats import interval  # noqa: E402
from gateq.sim.strategies import pick  # noqa: E402

STRATEGIES = ("zuul", "zuul-post", "gateq", "gateq-series", "gateq-batch")
GOAL = ("distgit", 0.05)
RECOMMENDED = {"distgit": "gateq-series", "review-hooks": "gateq-batch", "publishing": "gateq-batch"}


# Window settings tried by --tune-windows: (initial, floor, ceiling, decrease
# type, decrease factor); the first is the default (config.model.Window).
LINEAR, HALVE, NONE = WindowDecrease.LINEAR, WindowDecrease.EXPONENTIAL, WindowDecrease.NONE
WINDOWS = ((20, 3, None, LINEAR, 2), (20, 3, None, LINEAR, 1), (20, 3, None, HALVE, 2), (20, 6, None, HALVE, 2),
           (40, 10, None, HALVE, 2), (10, 5, None, LINEAR, 2), (10, 5, None, NONE, 2), (10, 3, 10, LINEAR, 2),
           (8, 8, 8, NONE, 2), (5, 5, 5, NONE, 2))
TUNE_SEEDS = 100                      # the tuning's seeds start here: none is a seed of the table


def window_name(w: tuple) -> str:
    initial, floor, ceiling, kind, factor = w
    change = {LINEAR: f"-{factor}", HALVE: f"/{factor}", NONE: "fixed"}[kind]
    return f"{initial}/{floor}/{ceiling or '-'}/{change}"


def tune_one(task: tuple[str, float, int]) -> dict:
    """One seed of one cell: (mean minutes to land, waste %) per (strategy, window)."""
    name, rate, seed = task
    trace = generate(preset(name, {"failure_rate": str(rate)}), seed, name)
    runs = []
    for base in dict.fromkeys(("gateq", RECOMMENDED[name])):
        strategy = pick([base])[0]
        for w in WINDOWS:
            window = Window(initial=w[0], floor=w[1], ceiling=w[2], decrease_type=w[3], decrease_factor=w[4])
            runs.append(replace(strategy, name=f"{base} {window_name(w)}",
                                pipeline={**strategy.pipeline, "window": window}))
    result = compare(trace, runs, Settings(), seed)["strategies"]
    return {s: (f["land_mean"], f["wasted_pct"]) for s, f in result.items()}


def tune_windows(seeds: int, processes: int) -> None:
    cells = [(name, rate) for name in PRESETS for rate in (0.05, 0.2)]
    tasks = [(name, rate, TUNE_SEEDS + k) for name, rate in cells for k in range(seeds)]
    with multiprocessing.Pool(processes) as pool:
        found = pool.map(tune_one, tasks, chunksize=1)
    print(f"mean minutes to land ± 95% interval and wasted job-minutes, {seeds} seeds from {TUNE_SEEDS}; "
          "window initial/floor/ceiling/on failure (-N: linear, /N: divided, fixed)")
    for name, rate in cells:
        runs = [r for t, r in zip(tasks, found) if t[:2] == (name, rate)]
        print(f"{name} {rate:.0%}")
        for s in runs[0]:
            land, waste = interval([r[s][0] for r in runs]), interval([r[s][1] for r in runs])
            print(f"  {s:<32}{show(land, 1):>16} min{show(waste, 1, ' %'):>16}")


def rejected_out_one(task: tuple[str, float, int]) -> dict:
    """One seed: mean minutes to land of good changes, per strategy, on the
    trace as it is and on the trace of its good changes only."""
    name, rate, seed = task
    trace = generate(preset(name, {"failure_rate": str(rate)}), seed, name)
    good = {c.id for c in fates(trace)[0]}
    clean = replace(trace, changes=[replace(c, conflicts=tuple(o for o in c.conflicts if o in good))
                                    for c in trace.changes if c.id in good])
    runs = pick(["gateq", RECOMMENDED[name]])
    return {kind: {s: f["land_mean"] for s, f in compare(t, runs, Settings(), seed)["strategies"].items()}
            for kind, t in (("as is", trace), ("rejected out", clean))}


def rejected_out(seeds: int, processes: int) -> None:
    cells = [(GOAL[0], rate) for rate in (0.05, 0.2)]
    tasks = [(name, rate, seed) for name, rate in cells for seed in range(seeds)]
    with multiprocessing.Pool(processes) as pool:
        found = pool.map(rejected_out_one, tasks, chunksize=1)
    print(f"mean minutes to land of good changes ± 95% interval, {seeds} seeds: the days as they are, and "
          "without the changes the bound rejects (a free, perfect failure predictor)")
    for cell in cells:
        runs = [r for t, r in zip(tasks, found) if t[:2] == cell]
        for s in runs[0]["as is"]:
            a = interval([r["as is"][s] for r in runs])
            b = interval([r["rejected out"][s] for r in runs])
            gain = interval([1 - r["rejected out"][s] / r["as is"][s] for r in runs])
            print(f"{cell[0]} {cell[1]:.0%} {s:<14} as is {show(a, 1)} min, rejected out {show(b, 1)} min: "
                  f"{gain.mean:.1%} less (± {gain.half:.1%})")


def run_one(task: tuple[str, float, float, int, float | None]) -> dict:
    """One seed of one cell: the figures the table and the goal line need
    (`flake`: a flake rate instead of the preset's)."""
    name, rate, hours, seed, flake = task
    overrides = {"failure_rate": str(rate), "hours": str(hours)}
    if flake is not None:
        overrides["flake_rate"] = str(flake)
    trace = generate(preset(name, overrides), seed, name)
    result = compare(trace, pick(list(STRATEGIES)), Settings(), seed)
    out = {"bound": result["bound"]["land_mean"]}
    for s, f in result["strategies"].items():
        out[s] = {"mean": f["vs_bound"]["land_mean"], "p95": f["vs_bound"]["land_p95"],
                  "landed": f["landed_good_pct"], "wasted": f["wasted_pct"],
                  "disagree": f["snapshots_disagreeing"], "snapshots": f["snapshots"],
                  "minutes": f["land_mean"], "vs_zuul": speedup(result, "zuul", s),
                  "vs_post": speedup(result, s, "zuul-post")}
    out["serial"] = serial_capacity(trace)
    return out


def serial_capacity(trace) -> tuple[float, float]:
    """(changes arriving per hour, the most serial can land per hour: one
    critical path of jobs per change, one change at a time)."""
    hours = trace.meta["generator"]["hours"]
    paths = []
    for c in trace.changes:
        finish: dict[str, float] = {}
        for j in c.jobs:                      # the generator lists jobs after their needs
            finish[j.name] = j.duration + max((finish[n] for n in j.needs), default=0.0)
        paths.append(max(finish.values()))
    return len(trace.changes) / hours, 3600 / (sum(paths) / len(paths))


def figure(cells: list[dict], strategy: str, key: str):
    return interval([c[strategy][key] for c in cells if c[strategy][key] is not None])


def show(i, digits: int = 2, suffix: str = "") -> str:
    return "-" if i is None else f"{i.mean:.{digits}f} ± {i.half:.{digits}f}{suffix}"


COLUMNS = (("mean", "mean/bound", 2), ("p95", "p95/bound", 2), ("landed", "good landed %", 1),
           ("wasted", "wasted %", 1), ("disagree", "disagreeing", 1), ("vs_zuul", "zuul / it", 2),
           ("vs_post", "it / zuul-post", 2))


def table(results: dict[tuple[str, float], list[dict]]) -> list[str]:
    head = f"{'preset':<13}{'fail':>5}  {'strategy':<13}" + "".join(f"{label:>16}" for _, label, _ in COLUMNS)
    lines = [head]
    for (name, rate), cells in results.items():
        for k, s in enumerate(STRATEGIES):
            label = f"{name:<13}{rate:>5.0%}" if k == 0 else " " * 18
            lines.append(f"{label}  {s:<13}" + "".join(f"{show(figure(cells, s, key), digits):>16}"
                                                      for key, _, digits in COLUMNS))
    return lines


# The targets: (figure, how it is shown, goal, unit, whether a
# figure at or below the goal meets it).
GOALS = (("mean", "mean {:.2f}x of bound", 1.3, "", True), ("p95", "p95 {:.2f}x", 1.5, "", True),
         ("landed", "landed good {:.1f}%", 98.0, "%", False),
         ("wasted", "wasted job-minutes {:.1f}%", 15.0, "%", True),
         ("vs_zuul", "vs zuul {:.2f}x faster", 1.5, "", False), ("vs_post", "vs zuul-post {:.2f}x", 1.1, "", True))


def goal_line(cells: list[dict], strategy: str = "gateq", label: str = "gateq default") -> str:
    """Each target's mean over the seeds, its goal, and whether it is met."""
    parts = []
    for key, text, goal, unit, below in GOALS:
        value = figure(cells, strategy, key).mean
        met = value <= goal if below else value >= goal
        parts.append(f"{text.format(value)} ({'<=' if below else '>='} {goal:g}{unit}: "
                     f"{'met' if met else 'NOT met'})")
    total = sum(c[strategy]["disagree"] for c in cells)
    parts.append(f"snapshots disagreeing with git {total} (0: {'met' if total == 0 else 'NOT met'})")
    return f"{label}: " + ", ".join(parts)


def bound_line(cells: list[dict], unflaky: list[dict]) -> str:
    """Why the mean and p95 targets are out of reach: the bound without flakes."""
    b, b0 = interval([c["bound"] for c in cells]), interval([c["bound"] for c in unflaky])
    g, g0 = figure(cells, "gateq", "minutes"), figure(unflaky, "gateq", "minutes")
    return (f"the bound on distgit 5%: {b.mean:.0f} min mean (gateq {g.mean:.0f} min, "
            f"{figure(cells, 'gateq', 'mean').mean:.2f}x); on the same traces with flakes off it is "
            f"{b0.mean:.0f} min (gateq {g0.mean:.0f} min, {figure(unflaky, 'gateq', 'mean').mean:.2f}x): "
            "a change that may flake may leave early, so the bound cannot count the queue and the "
            "workers it waits for")


def measure_costs(rounds: int) -> None:
    """Time the real adapters the simulator charges for (see docs/simulator.md):
    60 distgit-sized projects, one of them with change branches to merge."""
    import tempfile

    from gateq.git.merger import Merger

    with tempfile.TemporaryDirectory() as root:
        projects = [f"p{i:02d}" for i in range(60)]
        paths = {p: make_repo(root, p, 1 + 2 * rounds if p == "p00" else 0) for p in projects}
        merger = Merger(paths.__getitem__)
        base = time_merges(merger, paths, projects, rounds)
        time_workspaces(base, paths, projects, rounds)
    print("views and publishing: see bench/publish.py ((a) view, (c) stage + switch)")


def make_repo(root: str, name: str, changes: int) -> str:
    """A spec and 20 patches on main, and `changes` branches c0.. adding a patch each."""
    from gateq.git.repo import git
    path = os.path.join(root, name)
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    files = {f"{i:04d}.patch": "line\n" * 50 for i in range(20)} | {f"{name}.spec": "Name: x\n" * 40}
    for file, text in files.items():
        with open(os.path.join(path, file), "w") as f:
            f.write(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "import")
    for k in range(changes):
        git(path, "checkout", "-q", "-b", f"c{k}", "main")
        with open(os.path.join(path, f"new-{k}.patch"), "w") as f:
            f.write(f"change {k}\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"c{k}")
    git(path, "checkout", "-q", "main")
    return path


def time_merges(merger, paths: dict[str, str], projects: list[str], rounds: int):
    """Merges at the head (every project's tip read) and onto the item ahead;
    returns the last state, a chain of merges, for the workspaces."""
    import statistics

    from gateq.config.model import MergeMode
    from gateq.core.actions import PrepareMerge
    from gateq.core.types import Change
    from gateq.git.repo import git
    need = tuple((p, "main") for p in projects)

    def merge(k: int, base) -> tuple[object, float]:
        rev = git(paths["p00"], "rev-parse", f"c{k}")
        action = PrepareMerge(1, 0, Change("p00", f"c{k}", "main", rev, frozenset({rev})),
                              MergeMode.MERGE, base, need)
        started = time.perf_counter()
        state = merger.merge(action)[0]
        return state, time.perf_counter() - started
    head = [merge(k, ())[1] for k in range(rounds)]
    base, chain = merge(rounds, ())[0], []
    for k in range(rounds + 1, 2 * rounds + 1):
        base, seconds = merge(k, base)
        chain.append(seconds)
    ahead, at_head = statistics.median(chain), statistics.median(head)
    print(f"merge onto the item ahead: median {ahead * 1000:.1f} ms "
          f"(min {min(chain) * 1000:.1f}, max {max(chain) * 1000:.1f})")
    print(f"merge at the head, {len(projects)} projects' tips read: median {at_head * 1000:.1f} ms"
          f" -> {(at_head - ahead) / len(projects) * 1000:.2f} ms per project")
    return base


def time_workspaces(state, paths: dict[str, str], projects: list[str], rounds: int) -> None:
    import statistics
    import tempfile

    from gateq.git.workspace import prepare_workspace
    for n in (1, 10, len(projects)):
        part = tuple(x for x in state if x[0] in projects[:n])
        times = []
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as dest:
                started = time.perf_counter()
                prepare_workspace(dest, part, paths.__getitem__)
                times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"workspace of {n:>2} projects: median {median * 1000:.1f} ms ({median / n * 1000:.1f} ms per project)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--hours", type=float, default=24.0, help="length of each generated trace")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--measure-costs", action="store_true",
                        help="time the real merger and workspace preparation instead")
    parser.add_argument("--tune-windows", action="store_true",
                        help="compare window settings per preset instead (seeds from 100)")
    parser.add_argument("--rejected-out", action="store_true",
                        help="what failing changes cost: distgit's days without the changes the bound rejects")
    args = parser.parse_args()
    if args.rejected_out:
        rejected_out(args.seeds, args.processes)
    elif args.tune_windows:
        tune_windows(args.seeds, args.processes)
    elif args.measure_costs:
        measure_costs(rounds=9)
    else:
        strategy_table(args)


def strategy_table(args: argparse.Namespace) -> None:
    """The table of every preset and rate, then the goal lines."""
    started = time.perf_counter()
    cells = [(name, rate) for name in PRESETS for rate in args.rates]
    if GOAL not in cells:
        cells.append(GOAL)
    tasks = [(name, rate, args.hours, seed, None) for name, rate in cells for seed in range(args.seeds)]
    tasks += [(*GOAL, args.hours, seed, 0.0) for seed in range(args.seeds)]
    with multiprocessing.Pool(args.processes) as pool:
        found = pool.map(run_one, tasks, chunksize=1)
    results = {cell: [r for t, r in zip(tasks, found) if t[:2] == cell and t[4] is None] for cell in cells}
    unflaky = [r for t, r in zip(tasks, found) if t[4] is not None]
    print(f"time to land over the bound (>= 1; mean and p95), good changes landed, wasted job-minutes,"
          f" snapshots disagreeing with git, zuul's time over the strategy's and the strategy's over "
          f"zuul-post's: mean ± 95% interval over {args.seeds} seeds, {args.hours:g} h traces at 80% load, "
          f"recheck after 5 min (3 rounds), measured engine costs")
    print("\n".join(table(results)))
    arriving = interval([r["serial"][0] for r in results[GOAL]])
    capacity = interval([r["serial"][1] for r in results[GOAL]])
    print(f"\nserial (not shown): on distgit {arriving.mean:.1f} changes arrive per hour and serial lands "
          f"at most {capacity.mean:.1f} per hour, so its queue and its ratio grow with the trace.")
    print("\n" + goal_line(results[GOAL]))
    print(goal_line(results[GOAL], RECOMMENDED[GOAL[0]], f"{RECOMMENDED[GOAL[0]]} (distgit's preset)"))
    print(bound_line(results[GOAL], unflaky))
    print(f"({args.seeds} seeds a cell, {len(tasks)} traces, {args.processes} processes; "
          f"{time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
