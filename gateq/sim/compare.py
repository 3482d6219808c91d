"""Run strategies and the oracle on one trace and gather their figures.

The result is the plain dict that `--json` prints and the table renders.
"""
from __future__ import annotations

from .metrics import oracle_figures, ratios, sim_figures
from .oracle import oracle
from .strategies import Strategy
from .trace import Trace
from .world import simulate


def workers_for(trace: Trace, workers: int | None) -> int | None:
    """--workers, else the trace's own meta.workers, else unlimited (None)."""
    if workers is not None:
        return workers or None
    meta = trace.meta.get("workers")
    return meta if isinstance(meta, int) and meta > 0 else None


def compare(trace: Trace, strategies: list[Strategy], workers: int | None = None, seed: int = 0,
            merge_seconds: float = 0.0) -> dict:
    workers = workers_for(trace, workers)
    o = oracle(trace, workers, merge_seconds)
    best = oracle_figures(trace, o)
    out = {"trace": trace.path, "changes": len(trace.changes), "workers": workers or "unlimited",
           "seed": seed, "merge_seconds": merge_seconds, "oracle": best, "strategies": {}}
    for strategy in strategies:
        figures = sim_figures(trace, o, simulate(trace, strategy, workers, seed, merge_seconds))
        out["strategies"][strategy.name] = {"summary": strategy.summary, **figures,
                                            "vs_oracle": ratios(figures, best)}
    return out
