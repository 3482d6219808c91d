"""What happens to one item: reset onto a new base, cancel, resume, report.

Each function changes only the item it is given and returns the actions
that follow (builds to cancel); the caller keeps the queue's books.
"""
from __future__ import annotations

from . import jobgraph
from .actions import CancelBuild, JobRecord, ResultRecord
from .state import Item, Member, Stage
from .types import BuildState, ItemResult, JobResult


def describe(result: ItemResult) -> str:
    """How a dependent's reason names what happened to the change it needs."""
    return {ItemResult.FAILED: "failed", ItemResult.MERGE_CONFLICT: "was ejected as a merge conflict",
            ItemResult.CHANGE_MISSING: "was ejected: its commit is missing",
            ItemResult.BRANCH_MISSING: "was ejected: its branch is missing",
            ItemResult.DEQUEUED: "was dequeued", ItemResult.NOT_ENQUEUED: "was not enqueued"}.get(result, result.value)


def cancel_builds(item: Item, now: float) -> list[CancelBuild]:
    """Running builds are cancelled, waiting ones skipped (control builds too)."""
    cancels = []
    for build in (*item.builds.values(), *item.controls.values()):
        if build.state is BuildState.RUNNING:
            cancels.append(CancelBuild(build.id))
            jobgraph.finish(build, JobResult.CANCELLED, now)
        elif build.state is BuildState.WAITING:
            jobgraph.finish(build, JobResult.SKIPPED, None)
    return cancels


def reset(item: Item, base: Item | None, now: float) -> list[CancelBuild]:
    """Start the item over on a new base: new generation, new merge, new builds.

    An item that has asked for nothing yet just takes the new base: no answer
    can be in flight for it, so it keeps its generation (and is no longer
    failing: whatever failed it is re-judged on the new base).
    """
    item.base = base.id if base else None
    item.base_generation = base.generation if base else None
    item.failing = None
    item.checks = {}                    # answered for a state that is gone
    if item.stage is Stage.QUEUED:
        return []
    cancels = cancel_builds(item, now)
    item.generation += 1
    item.move(Stage.QUEUED)
    item.spec, item.base_commit, item.builds, item.controls = (), None, {}, {}
    return cancels


def resume(item: Item) -> None:
    """After a restart nothing is in flight: ask again for what was asked."""
    if item.stage is Stage.MERGING:
        item.move(Stage.QUEUED)
    elif item.stage is Stage.LANDING:
        item.move(Stage.TESTING)
    for build in jobgraph.running(item):
        build.state = BuildState.WAITING
    item.checks = {name: a for name, a in item.checks.items() if a.met is not None}


def job_records(item: Item) -> tuple[JobRecord, ...]:
    """The `jobs` of a result: what each job of the item came to."""
    out = []
    for job in item.jobs:
        build = item.builds.get(job)
        if build is None:
            out.append(JobRecord(job, JobResult.SKIPPED, None))
        else:
            result = build.result or (JobResult.CANCELLED if build.state is BuildState.RUNNING
                                      else JobResult.SKIPPED)
            control = item.controls.get(job)
            out.append(JobRecord(job, result, build.id, build.started_at, build.finished_at,
                                 build.duration, build.attempt, build.retried, build.excused,
                                 control.id if control else None))
    return tuple(out)


def result_record(item: Item, member: Member, result: ItemResult, reason: str | None,
                  commit: str | None, now: float, snapshot: dict[str, int] | None = None) -> ResultRecord:
    """One change's result, under the id it was enqueued with; the jobs are
    its item's, shared with the changes of its batch (`batch`)."""
    c = member.change
    batch = tuple(m.change.name for m in item.members if m is not member)
    return ResultRecord(member.id, item.pipeline, c.project, c.ref, c.branch, c.revision, result,
                        commit, reason, job_records(item), member.enqueued_at, now, snapshot, batch)
