"""Benchmark: gating strategies against the hindsight oracle on the three presets.

For each preset (review-hooks, distgit, publishing) and failure rate (2%, 5%,
10%, 20%), generates a day of changes at 80% load (the presets' default), runs
serial, zuul and gateq on the real scheduler, and prints each one's mean and
p95 time to land as a ratio to the oracle's, averaged over --seeds traces (5).
Usage: python bench/strategies.py [--seeds 5] [--rates 0.02 0.05 0.1 0.2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.sim.compare import compare  # noqa: E402
from gateq.sim.generate import PRESETS, generate, preset  # noqa: E402
from gateq.sim.strategies import STRATEGIES, pick  # noqa: E402

FIGURES = ("land_mean", "land_p95")


def ratios(name: str, rate: float, seeds: int) -> dict[str, dict[str, float]]:
    """Strategy -> figure -> ratio to the oracle, averaged over the seeds."""
    sums: dict[str, dict[str, list[float]]] = {s: {f: [] for f in FIGURES} for s in STRATEGIES}
    for seed in range(seeds):
        trace = generate(preset(name, {"failure_rate": str(rate)}), seed, name)
        result = compare(trace, pick(None), seed=seed)
        for strategy, figures in result["strategies"].items():
            for f in FIGURES:
                if figures["vs_oracle"][f] is not None:
                    sums[strategy][f].append(figures["vs_oracle"][f])
    return {s: {f: sum(v) / len(v) if v else float("nan") for f, v in by.items()} for s, by in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    args = parser.parse_args()
    started = time.perf_counter()
    header = f"{'preset':<13}{'fail':>5}" + "".join(f"{s:>16}" for s in STRATEGIES)
    print("time to land over the oracle's: mean / p95 (1.00 = as fast as hindsight)")
    print(header)
    table: dict[tuple[str, float], dict] = {}
    for name in PRESETS:
        for rate in args.rates:
            table[name, rate] = r = ratios(name, rate, args.seeds)
            cells = "".join(f"{r[s]['land_mean']:>9.2f} /{r[s]['land_p95']:>5.2f}" for s in STRATEGIES)
            print(f"{name:<13}{rate:>5.0%}{cells}")
    key = ("distgit", 0.05)
    if key not in table:
        table[key] = ratios(*key, args.seeds)
    d = table[key]
    print(f"\ndistgit at 5% failure and 80% load: zuul lands changes within {d['zuul']['land_mean']:.2f}x "
          f"of the oracle's mean time (p95 {d['zuul']['land_p95']:.2f}x), gateq within "
          f"{d['gateq']['land_mean']:.2f}x; serial is {d['serial']['land_mean']:.1f}x the oracle, "
          f"{d['serial']['land_mean'] / d['zuul']['land_mean']:.1f}x behind zuul.")
    print(f"({args.seeds} seeds a cell; {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
