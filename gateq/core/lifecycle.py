"""What happens to one item: reset onto a new base, cancel, report.

Shared by the event handlers and the queue passes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import jobgraph
from .actions import Action, CancelBuild
from .state import Item, MergeState
from .types import BuildState, ItemResult, JobResult

if TYPE_CHECKING:
    from .scheduler import Scheduler


def describe(result: ItemResult) -> str:
    return {ItemResult.FAILED: "failed", ItemResult.MERGE_CONFLICT: "was ejected as a merge conflict",
            ItemResult.DEQUEUED: "was dequeued"}.get(result, result.value)


def cancel_builds(scheduler: "Scheduler", item: Item, actions: list[Action]) -> None:
    """Running builds are cancelled, waiting ones skipped."""
    for build in item.builds.values():
        if build.state is BuildState.RUNNING:
            scheduler.state.builds.pop(build.id, None)
            actions.append(CancelBuild(build.id))
            jobgraph.finish(build, JobResult.CANCELLED, scheduler.state.now)
        elif build.state is BuildState.WAITING:
            jobgraph.finish(build, JobResult.SKIPPED, None)


def reset(scheduler: "Scheduler", item: Item, base: Item | None, actions: list[Action]) -> None:
    """Start the item over on a new base: new generation, new merge, new builds.

    An item that has asked for nothing yet just takes the new base: no answer
    can be in flight for it, so it keeps its generation.
    """
    if item.merge is MergeState.PENDING and not item.started:
        item.base = base.id if base else None
        item.base_generation = base.generation if base else None
        return
    cancel_builds(scheduler, item, actions)
    item.generation += 1
    item.base = base.id if base else None
    item.base_generation = base.generation if base else None
    item.merge, item.state, item.base_commit, item.conflict = MergeState.PENDING, (), None, None
    item.builds, item.failing, item.started = {}, None, False


def result_record(item: Item, result: ItemResult, reason: str | None,
                  commit: str | None, now: float, snapshot: dict | None = None) -> dict:
    c = item.change
    return {"item": item.id, "pipeline": item.pipeline, "project": c.project, "change": c.ref,
            "branch": c.branch, "revision": c.revision, "result": result.value, "commit": commit,
            "reason": reason, "jobs": jobgraph.job_records(item),
            "enqueued_at": item.enqueued_at, "finished_at": now, "snapshot": snapshot}
