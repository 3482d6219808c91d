"""The status page's data: the engine's snapshot, with what people ask of it.

For every item: the item it is built on, a link to its change where the
connection has one, each job's elapsed time and estimate, the item's ETA,
and which jobs failed. A pure function of the snapshot, the results, the
layout and the time, so the page, its JSON twin and the live stream agree.
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..config.model import Layout
from . import estimates

ChangeUrl = Callable[[str, str], "str | None"]       # (project, change) -> URL


def status_view(status: dict, results: Sequence[dict], layout: Layout, now: float,
                change_url: ChangeUrl) -> dict:
    typical = estimates.typical_durations(results)
    dependencies = {name: job.dependencies for name, job in layout.jobs.items()}
    shown = status.get("pipelines") or [     # no engine wrote any yet: the layout's, empty
        {"name": name, "manager": p.manager.value, "queues": []} for name, p in layout.pipelines.items()]
    pipelines = [{"name": p["name"], "manager": p["manager"],
                  "queues": [queue_view(q, typical, dependencies, now, change_url)
                             for q in p["queues"]]}
                 for p in shown]
    return {"pipelines": pipelines, "running_builds": status.get("running_builds", 0),
            "slots": status.get("slots", 0), "pending_events": status.get("pending_events", 0),
            "items": sum(len(q["items"]) for p in pipelines for q in p["queues"]), "now": now}


def queue_view(queue: dict, typical, dependencies, now: float, change_url: ChangeUrl) -> dict:
    items, ahead = [], {}
    for position, item in enumerate(queue["items"]):
        items.append(item_view(item, position, ahead.get(item["based_on"]), typical,
                               dependencies, now, change_url))
        ahead[f"{item['project']}:{item['change']}"] = item["item"]
    return {"name": queue["name"], "window": queue["window"], "items": items}


def item_view(item: dict, position: int, base_item: int | None, typical, dependencies,
              now: float, change_url: ChangeUrl) -> dict:
    jobs = [job_view(job, typical.get(job["name"]), now) for job in item["jobs"]]
    failed = [job["name"] for job in jobs if job["state"] in estimates.FAILED]
    eta = None if item.get("failing") else estimates.item_eta(jobs, dependencies, typical, now)
    return {
        "item": item["item"], "position": position, "project": item["project"],
        "change": item["change"], "branch": item["branch"], "revision": item["revision"],
        "url": change_url(item["project"], item["change"]),
        "based_on": item["based_on"], "based_on_item": base_item,
        "generation": item.get("generation", 0), "stage": item.get("stage"),
        "failing": item.get("failing"), "failed_jobs": failed, "landing": item.get("landing"),
        "changes": members(item, change_url), "jobs": jobs, "eta": eta,
    }


def members(item: dict, change_url: ChangeUrl) -> list[dict]:
    """The changes the item tests: several when the pipeline batches them."""
    found = item.get("changes") or [{"item": item["item"], "project": item["project"],
                                     "change": item["change"], "revision": item["revision"]}]
    return [{**c, "url": change_url(c["project"], c["change"])} for c in found]


def job_view(job: dict, typical: float | None, now: float) -> dict:
    return {**job, "elapsed": estimates.elapsed(job, now), "estimate": typical,
            "remaining": estimates.remaining(job, typical, now)}
