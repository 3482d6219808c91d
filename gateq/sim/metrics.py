"""Figures of one simulated run, and of the bound, as plain dicts.

Good changes are those the bound lands; time to land runs from a change's
first approval to its landing, across recheck rounds. Each time figure is
compared with the bound's over the same changes (the good ones the strategy
landed), so no ratio can fall below 1. Worker time is counted from a
build's start to its end or cancellation. Work "decided" when it is a
landed item's last generation, or what a change that cannot land ran up to
its first failure; everything else is wasted: failed runs retried
(Job.attempts), generations replaced by a
reset, builds of a failing item after its failure, of good changes ejected
(the work is done again after a recheck), of dequeued or conflicting items.
"""
from __future__ import annotations

import math

from ..core.types import JobResult
from .bound import Bound
from .trace import Trace
from .world import Run, SimResult

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


def bound_figures(trace: Trace, b: Bound) -> dict:
    arrival = {c.id: c.at for c in trace.changes}
    return {
        "landed": len(b.landed), "rejected": len(b.rejected), "good": len(b.landed),
        "landed_good_pct": 100.0 if b.landed else None,
        **time_figures("land", [b.landed[c] - arrival[c] for c in b.landed]),
        "job_minutes_per_landed": minutes(b.job_seconds / len(b.landed)) if b.landed else None,
    }


def sim_figures(trace: Trace, b: Bound, r: SimResult) -> dict:
    arrival = {c.id: c.at for c in trace.changes}
    final = {c: records[-1] for c, records in r.reports.items()}
    merged = {c: rec["finished_at"] for c, rec in final.items() if rec["result"] == "merged"}
    landed_good = [c for c in merged if c in b.landed]
    wrong: dict[str, int] = {}
    for c in b.landed:
        if c not in merged:
            result = final[c]["result"] if c in final else "never reported"
            wrong[result] = wrong.get(result, 0) + 1
    rejected = [c for c in b.rejected if c not in merged and c in final]
    decided, reset, retried, wasted = build_seconds(r, set(b.landed))
    worked = decided + reset + retried + wasted
    end = max(rec["finished_at"] for rec in final.values())
    times = [merged[c] - arrival[c] for c in landed_good]
    return {
        "landed": len(merged), "rejected": len(final) - len(merged), "good": len(b.landed),
        "landed_good_pct": round(100 * len(landed_good) / len(b.landed), 2) if b.landed else None,
        "landed_per_hour": per_hour(len(merged), trace.changes[0].at, end),
        **time_figures("land", times),
        **time_figures("reject", [final[c]["finished_at"] - arrival[c] for c in rejected]),
        "job_minutes_per_landed": minutes(worked / len(merged)) if merged else None,
        "wasted_job_minutes": minutes(reset + retried + wasted), "reset_job_minutes": minutes(reset),
        "retried_job_minutes": minutes(retried),
        "wasted_pct": round(100 * (reset + retried + wasted) / worked, 2) if worked else None,
        "wrongly_rejected": sum(wrong.values()), "wrongly_rejected_by_result": wrong,
        "rechecks": r.rechecks, "snapshots": len(r.publications),
        "snapshots_disagreeing": sum(not p.agrees for p in r.publications),
        "flaky_builds": r.flakes, "builds": len(r.runs), "steps": r.steps,
        "vs_bound": vs_bound(times, [b.landed[c] - arrival[c] for c in landed_good]),
    }


def vs_bound(times: list[float], bounds: list[float]) -> dict:
    """Mean, p50 and p95 of the strategy's times over the bound's, on the same
    changes: each time is at least its bound, so each ratio is at least 1."""
    ours, best = time_figures("land", times), time_figures("land", bounds)
    return {k: round(ours[k] / best[k], 3) if ours[k] is not None and best[k] else None
            for k in TIME_FIGURES}


def build_seconds(r: SimResult, good: set[str]) -> tuple[float, float, float, float]:
    """Worker seconds that decided, that resets discarded, that failed runs
    retried (Job.attempts) took, and the rest."""
    records = [rec for recs in r.reports.values() for rec in recs] + r.post_reports
    outcome = {rec["item"]: rec for rec in records}
    last_generation = {item: {j["build"] for j in rec["jobs"] if j["build"]} for item, rec in outcome.items()}
    retried_runs = {b for rec in records for j in rec["jobs"] for b in j.get("retried", ())}
    first_failure: dict[int, float] = {}
    for run in r.runs:
        if run.result is JobResult.FAILURE and not run.cancelled and run.ended is not None \
                and run.id in last_generation.get(run.item, ()):
            first_failure[run.item] = min(first_failure.get(run.item, math.inf), run.ended)
    decided = reset = retried = wasted = 0.0
    for run in r.runs:
        if run.id in retried_runs:
            retried += run.seconds
        elif run.id not in last_generation.get(run.item, ()):
            reset += run.seconds
        elif decides(run, outcome[run.item], good, first_failure):
            decided += run.seconds
        else:
            wasted += run.seconds
    return decided, reset, retried, wasted


def decides(run: Run, record: dict, good: set[str], first_failure: dict[int, float]) -> bool:
    if run.cancelled:
        return False
    if record["result"] in ("merged", "succeeded"):
        return True
    return (record["result"] == "failed" and run.change.id not in good
            and run.ended is not None and run.ended <= first_failure.get(run.item, -1.0))
