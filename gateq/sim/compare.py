"""Run strategies and the bound on one trace and gather their figures; and
the same over several seeds, as means with 95% confidence intervals.

Results are the plain dicts that `--json` prints and the table renders.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .bound import bound
from .costs import Costs
from .metrics import bound_figures, sim_figures
from .recheck import Recheck
from .stats import interval
from .strategies import ExportAt, Strategy
from .trace import Trace
from .world import simulate


@dataclass(frozen=True)
class Settings:
    """What a run assumes besides the trace and the strategy."""
    workers: int | None = None           # None: the trace's meta.workers; 0: unlimited
    costs: Costs = field(default_factory=Costs)
    recheck: Recheck = field(default_factory=Recheck)


def workers_for(trace: Trace, workers: int | None) -> int | None:
    """--workers, else the trace's own meta.workers, else unlimited (None)."""
    if workers is not None:
        return workers or None
    meta = trace.meta.get("workers")
    return meta if isinstance(meta, int) and meta > 0 else None


def compare(trace: Trace, strategies: list[Strategy], settings: Settings = Settings(),
            seed: int = 0) -> dict:
    workers = workers_for(trace, settings.workers)
    plain = (True, 1, False)
    kinds = {bound_kind(s) for s in strategies} | {plain}
    bounds = {kind: bound(trace, workers, settings.costs, *kind) for kind in kinds}
    out = {"trace": trace.path, "changes": len(trace.changes), "workers": workers or "unlimited",
           "seed": seed, "bound": bound_figures(trace, bounds[plain]), "strategies": {}}
    for kind in sorted(kinds - {plain}, key=lambda k: (not k[0], k[1], k[2])):
        out[bound_name(kind)] = bound_figures(trace, bounds[kind])
    for strategy in strategies:
        b = bounds[bound_kind(strategy)]
        run = simulate(trace, strategy, workers, seed, settings.costs, settings.recheck)
        out["strategies"][strategy.name] = {"summary": strategy.summary, **sim_figures(trace, b, run)}
    return out


def bound_kind(strategy: Strategy) -> tuple[bool, int, bool]:
    """Which bound holds for the strategy: with the export in the gate or
    not (zuul-post), the most changes it tests as one item, and whether
    only a series' changes share one."""
    batch = strategy.batch
    return strategy.export is not ExportAt.POST, batch, batch > 1 and strategy.series


def bound_name(kind: tuple[bool, int, bool]) -> str:
    """The result key of a bound other than the plain one: bound_post, bound_batch4, bound_series2."""
    in_gate, batch, series = kind
    shared = "" if batch == 1 else f"_{'series' if series else 'batch'}{batch}"
    return "bound" + ("" if in_gate else "_post") + shared


def speedup(result: dict, slower: str, faster: str, figure: str = "land_mean") -> float | None:
    """How many times `faster`'s figure is below `slower`'s, in one result."""
    a = result["strategies"][slower].get(figure)
    b = result["strategies"][faster].get(figure)
    return a / b if a is not None and b else None


def aggregate(results: list[dict]) -> dict:
    """Per figure, the mean over the seeds' results with a 95% interval."""
    first = results[0]
    out = {"trace": first["trace"], "seeds": [r["seed"] for r in results],
           "changes": interval([r["changes"] for r in results]).as_dict(),
           "workers": first["workers"] if all(r["workers"] == first["workers"] for r in results) else "varies",
           "bound": over(r["bound"] for r in results), "strategies": {}}
    for key in first:
        if key.startswith("bound_"):
            out[key] = over(r[key] for r in results)
    for name, figures in first["strategies"].items():
        runs = [r["strategies"][name] for r in results]
        out["strategies"][name] = {"summary": figures["summary"], **over(runs),
                                   "vs_bound": over(f["vs_bound"] for f in runs)}
    return out


def over(dicts) -> dict:
    """{figure: interval} for every numeric figure of the dicts."""
    dicts = list(dicts)
    keys = list(dict.fromkeys(k for d in dicts for k, v in d.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)))
    out = {}
    for key in keys:
        found = interval([d[key] for d in dicts if isinstance(d.get(key), (int, float))])
        out[key] = found.as_dict() if found else None
    return out
