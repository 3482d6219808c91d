"""`--plot`: time to land against load or failure rate, one line per strategy.

Load is varied by the number of workers on the same trace; the failure rate
by re-marking which changes are bad, from the seed, so that a change bad at
5% is bad at 10% too. Drawn with matplotlib as SVG.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import replace

from .compare import Settings, compare, workers_for
from .strategies import Strategy
from .trace import Trace

LOADS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FAILURE_RATES = (0.0, 0.02, 0.05, 0.1, 0.2)


def offered_work(trace: Trace) -> tuple[float, float]:
    """Job seconds of one run of every change, and the span they arrive over."""
    work = sum(j.duration for c in trace.changes for j in c.jobs)
    hours = trace.meta.get("generator", {}).get("hours")
    span = hours * 3600 if isinstance(hours, (int, float)) else trace.changes[-1].at - trace.changes[0].at
    return work, max(span, 1.0)


def with_failure_rate(trace: Trace, rate: float, seed: int) -> Trace:
    """The trace with each change bad when its own draw falls below `rate`."""
    def draw(cid: str) -> float:
        digest = hashlib.blake2b(f"{seed}:bad:{cid}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0 ** 64
    changes = []
    for c in trace.changes:
        first = next((j.name for j in c.jobs if not j.export), c.jobs[0].name)
        changes.append(replace(c, breaks=(first,) if draw(c.id) < rate else ()))
    return replace(trace, changes=tuple(changes))


def sweep(trace: Trace, strategies: list[Strategy], against: str, seed: int, settings: Settings) -> dict:
    """{x label, xs, series: {name: [mean time to land]}} for the bound and each strategy."""
    names = ["bound", *(s.name for s in strategies)]
    series: dict[str, list] = {name: [] for name in names}
    xs: list[float] = []
    if against == "load":
        work, span = offered_work(trace)
        counts = sorted({max(1, math.ceil(work / (span * load))) for load in LOADS}, reverse=True)
        runs = [(round(work / (span * n), 2), trace, n) for n in counts]
        label = "offered load (one run of every job / workers x day)"
    else:
        fixed = workers_for(trace, settings.workers) or 0
        runs = [(rate, with_failure_rate(trace, rate, seed), fixed) for rate in FAILURE_RATES]
        label = "failure rate (fraction of bad changes)"
    for x, t, n in runs:
        result = compare(t, strategies, replace(settings, workers=n), seed)
        xs.append(x)
        series["bound"].append(result["bound"]["land_mean"])
        for name, figures in result["strategies"].items():
            series[name].append(figures["land_mean"])
    return {"label": label, "xs": xs, "series": series}


def draw(points: dict, title: str, out: str) -> None:
    try:
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib (pip install matplotlib)") from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, ys in points["series"].items():
        style = dict(linestyle="--", color="black") if name == "bound" else {}
        ax.plot(points["xs"], ys, marker="o", label=name, **style)
    ax.set_xlabel(points["label"])
    ax.set_ylabel("mean time to land (minutes)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(out, format="svg")
    except OSError as exc:
        raise ValueError(f"{out}: cannot write: {exc.strerror}") from None
    finally:
        plt.close(fig)
