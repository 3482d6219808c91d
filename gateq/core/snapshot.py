"""A plain-data picture of the scheduler's queues.

The one view that `gateq status`, its `--json` output and tests read,
instead of poking at the state objects. Read-only: it changes nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.model import Layout
from .state import Item, Stage, State

if TYPE_CHECKING:
    from .scheduler import Scheduler

# The `merge` field of the status, as it read before items had one Stage.
MERGE_FIELD = {Stage.QUEUED: "pending", Stage.MERGING: "requested", Stage.CONFLICT: "conflict"}


def snapshot(s: "Scheduler") -> dict:
    return status(s.layout, s.state, s.slots)


def status(layout: Layout, state: State, slots: int) -> dict:
    pipelines = []
    for name, pipeline in layout.pipelines.items():
        pstate = state.pipelines.get(name)
        queues = [{"name": q.name, "window": q.window,
                   "items": [describe_item(state, i) for i in q.items]}
                  for q in (pstate.queues.values() if pstate else ()) if q.items]
        pipelines.append({"name": name, "manager": pipeline.manager.value, "queues": queues})
    return {"pipelines": pipelines, "running_builds": len(state.builds), "slots": slots}


def describe_item(state: State, item: Item) -> dict:
    base = state.index.get(item.base) if item.base is not None else None
    c = item.change
    return {
        "item": item.id, "project": c.project, "change": c.ref, "branch": c.branch,
        "revision": c.revision, "based_on": base.change.name if base else f"{c.branch} tip",
        "changes": [{"item": m.id, "project": m.change.project, "change": m.change.ref,
                     "revision": m.change.revision} for m in item.members],
        "generation": item.generation, "stage": item.stage.value,
        "merge": MERGE_FIELD.get(item.stage, "merged"), "failing": item.failing,
        "landing": item.stage is Stage.LANDING,
        "checks": [{"change": name, "met": a.met, "reason": a.reason} for name, a in item.checks.items()],
        "jobs": [{"name": job, "build": b.id if b else None,
                  "state": (b.result.value if b and b.result else b.state.value if b else "waiting"),
                  "started_at": b.started_at if b else None,
                  "finished_at": b.finished_at if b else None}
                 for job in item.jobs for b in [item.builds.get(job)]],
    }


def live_builds(s: "Scheduler") -> set[str]:
    """Every build of the items still in a queue, finished or not: their
    exports may yet be shown to the items behind or be published."""
    return {b.id for item in s.state.index.values() for b in item.builds.values()}


def is_idle(s: "Scheduler") -> bool:
    return not s.state.index and not s.state.builds
