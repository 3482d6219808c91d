"""How long a job usually takes, and what is left of an item's run.

A job's typical duration is the median of its last successful runs, read
from the results (the job's own duration where the executor measured it).
An item's ETA follows its job graph: a waiting job starts when the jobs it
depends on end, so the item ends when its longest chain of jobs does. It
leaves out waiting for a free build slot, which no result tells.
"""
from __future__ import annotations

import statistics
from typing import Mapping, Sequence

RECENT_RUNS = 5
FINISHED = frozenset({"success", "failure", "timed-out", "cancelled", "skipped", "done"})
FAILED = frozenset({"failure", "timed-out"})


def typical_durations(results: Sequence[dict], recent: int = RECENT_RUNS) -> dict[str, float]:
    """Per job, the median duration of its last `recent` successful runs."""
    runs: dict[str, list[float]] = {}
    for record in results:
        for job in record.get("jobs", ()):
            took = job_duration(job)
            if job.get("result") == "success" and took is not None:
                runs.setdefault(job["name"], []).append(took)
    return {name: statistics.median(times[-recent:]) for name, times in runs.items()}


def job_duration(job: Mapping) -> float | None:
    if job.get("duration") is not None:
        return float(job["duration"])
    if job.get("started_at") is not None and job.get("finished_at") is not None:
        return max(0.0, job["finished_at"] - job["started_at"])
    return None


def elapsed(job: Mapping, now: float) -> float | None:
    """Seconds the job has run, or ran; None before it started."""
    start = job.get("started_at")
    if start is None:
        return None
    end = job.get("finished_at") if job.get("state") in FINISHED else None
    return max(0.0, (end if end is not None else now) - start)


def remaining(job: Mapping, typical: float | None, now: float) -> float | None:
    """Seconds until the job ends by its typical duration (0 once finished
    or overdue); None when nothing is known of it."""
    if job.get("state") in FINISHED:
        return 0.0
    if typical is None:
        return None
    ran = elapsed(job, now) or 0.0
    return max(0.0, typical - ran)


def item_eta(jobs: Sequence[Mapping], dependencies: Mapping[str, Sequence[str]],
             typical: Mapping[str, float], now: float) -> float | None:
    """Seconds until the item's last job ends; None if a job's length is unknown."""
    by_name = {job["name"]: job for job in jobs}
    ends: dict[str, float | None] = {}

    def end(name: str) -> float | None:
        if name not in ends:
            ends[name] = None                      # a cycle cannot happen; be safe anyway
            job = by_name[name]
            left = remaining(job, typical.get(name), now)
            if left is not None and job.get("state") == "waiting":
                before = [end(d) for d in dependencies.get(name, ()) if d in by_name]
                left = None if None in before else max(before, default=0.0) + left
            ends[name] = left
        return ends[name]

    found = [end(name) for name in by_name]
    return None if None in found else max(found, default=0.0)
