"""Figures of one simulated run, and of the oracle, as plain dicts.

Good changes are those the oracle lands; bad ones those it rejects. Worker
time is counted from a build's start to its end or cancellation (a waiting
export holds its worker too). A build "decided" when it belongs to the last
generation of an item that landed or failed and ran to its end; builds of
generations that a reset replaced are "discarded by resets"; everything
else that did not decide (cancelled, or of items dequeued or ejected as
merge conflicts) is wasted too.
"""
from __future__ import annotations

import math

from .oracle import OracleResult
from .trace import Trace
from .world import SimResult

TIME_FIGURES = ("land_mean", "land_p50", "land_p95")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with p% of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def time_figures(prefix: str, seconds: list[float]) -> dict:
    return {f"{prefix}_mean": minutes(mean(seconds)), f"{prefix}_p50": minutes(percentile(seconds, 50)),
            f"{prefix}_p95": minutes(percentile(seconds, 95))}


def per_hour(count: int, start: float, end: float) -> float:
    return round(count / max((end - start) / 3600, 1 / 60), 2)


def oracle_figures(trace: Trace, o: OracleResult) -> dict:
    arrival = {c.id: c.at for c in trace.changes}
    start = trace.changes[0].at
    end = max(list(o.landed.values()) + list(o.rejected.values()))
    return {
        "landed": len(o.landed), "rejected": len(o.rejected),
        "landed_per_hour": per_hour(len(o.landed), start, end),
        **time_figures("land", [o.landed[c] - arrival[c] for c in o.landed]),
        "reject_mean": 0.0, "reject_p50": 0.0, "reject_p95": 0.0,
        "job_minutes_per_landed": minutes(o.job_seconds / len(o.landed)) if o.landed else None,
        "wasted_job_minutes": 0.0, "reset_job_minutes": 0.0, "wrongly_rejected": 0,
    }


def sim_figures(trace: Trace, o: OracleResult, r: SimResult) -> dict:
    arrival = {c.id: c.at for c in trace.changes}
    merged = {c: rec["finished_at"] for c, rec in r.reports.items() if rec["result"] == "merged"}
    rejected = {c: rec for c, rec in r.reports.items() if rec["result"] != "merged"}
    wrong: dict[str, int] = {}
    for c, rec in rejected.items():
        if c in o.landed:
            wrong[rec["result"]] = wrong.get(rec["result"], 0) + 1
    decided, reset, wasted = build_seconds(r)
    end = max(rec["finished_at"] for rec in r.reports.values())
    return {
        "landed": len(merged), "rejected": len(rejected),
        "landed_per_hour": per_hour(len(merged), trace.changes[0].at, end),
        **time_figures("land", [t - arrival[c] for c, t in merged.items() if c in o.landed]),
        **time_figures("reject", [rec["finished_at"] - arrival[c]
                                  for c, rec in rejected.items() if c in o.rejected]),
        "job_minutes_per_landed": minutes((decided + reset + wasted) / len(merged)) if merged else None,
        "wasted_job_minutes": minutes(reset + wasted), "reset_job_minutes": minutes(reset),
        "wrongly_rejected": sum(wrong.values()), "wrongly_rejected_by_result": wrong,
        "flaky_builds": r.flakes, "builds": len(r.runs), "steps": r.steps,
    }


def build_seconds(r: SimResult) -> tuple[float, float, float]:
    """Worker seconds that decided, that resets discarded, and the rest."""
    last_generation: dict[int, set[str]] = {}
    decisive: set[int] = set()
    for rec in r.reports.values():
        last_generation[rec["item"]] = {j["build"] for j in rec["jobs"] if j["build"]}
        if rec["result"] in ("merged", "failed"):
            decisive.add(rec["item"])
    decided = reset = wasted = 0.0
    for run in r.runs:
        if run.id not in last_generation.get(run.item, ()):
            reset += run.seconds
        elif run.item in decisive and not run.cancelled:
            decided += run.seconds
        else:
            wasted += run.seconds
    return decided, reset, wasted


def ratios(figures: dict, oracle: dict) -> dict:
    """Each time figure and throughput over the oracle's (>1: slower / more work)."""
    out = {}
    for key in (*TIME_FIGURES, "landed_per_hour", "job_minutes_per_landed"):
        a, b = figures.get(key), oracle.get(key)
        out[key] = round(a / b, 2) if a is not None and b else None
    return out
