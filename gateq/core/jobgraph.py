"""The jobs of one item: which may start, which are skipped, how it ended.

Functions over one item's builds and the layout's job definitions; they
change nothing outside the item. `blocked(repository)` says whether an
export to that repository is unfinished among the items ahead.
"""
from __future__ import annotations

from typing import Callable, Mapping

from ..config.model import Job
from .state import Build, Item, Stage
from .types import BuildState, JobResult

Blocked = Callable[[str], bool]


def never(repository: str) -> bool:
    return False


def set_up(item: Item) -> None:
    """Create the builds of the item's current generation, once."""
    if item.stage is Stage.MERGED:
        item.builds = {job: Build(id=item.build_id(job), job=job) for job in item.jobs}
        item.move(Stage.TESTING)


def _dependencies(item: Item, build: Build, jobs: Mapping[str, Job]) -> list[Build]:
    return [item.builds[d] for d in jobs[build.job].dependencies if d in item.builds]


def passed(build: Build) -> bool:
    """It succeeded, or failed as it does on the item's base (excused)."""
    return build.result is JobResult.SUCCESS or build.excused is not None


def excusable(job: Job) -> bool:
    """Jobs whose failure the base may share: voting ones that export nothing
    (an export must succeed: its artifacts are what the landing publishes)."""
    return job.voting and not job.export


def skip_unreachable(item: Item, jobs: Mapping[str, Job], blocked: Blocked = never) -> None:
    """Skip waiting builds a dependency of which did not succeed, until none
    is left to skip. A skipped voting job fails the item: it cannot land
    untested. A job waiting for the exports ahead is left for later."""
    skipped = True
    while skipped:
        skipped = False
        for build in item.builds.values():
            job = jobs[build.job]
            if build.state is not BuildState.WAITING or not job.dependencies:
                continue
            if blocked is not never and any(map(blocked, job.requires)):
                continue
            failed = [d for d in _dependencies(item, build, jobs)
                      if d.state is BuildState.DONE and not passed(d) and not d.review]
            if failed:
                finish(build, JobResult.SKIPPED, None)
                skipped = True
                if job.voting and not item.failing:
                    item.failing = f"job {build.job} skipped: dependency {failed[0].job} did not succeed"


def runnable(item: Item, jobs: Mapping[str, Job], blocked: Blocked = never) -> list[Build]:
    """Waiting builds whose dependencies all passed, in job order; then the
    waiting control builds (blame.py), which run their job alone."""
    builds, out = item.builds, []
    for build in builds.values():
        if build.state is BuildState.WAITING:
            job = jobs[build.job]
            if blocked is not never and any(map(blocked, job.requires)):
                continue
            if not job.dependencies or all(passed(builds[d]) for d in job.dependencies if d in builds):
                out.append(build)
    for build in item.controls.values() if item.controls else ():
        if build.state is BuildState.WAITING and not (
                blocked is not never and any(map(blocked, jobs[build.job].requires))):
            out.append(build)
    return out


def required(item: Item, jobs: Mapping[str, Job]) -> set[str]:
    """Repositories that the item's waiting builds install from."""
    return {r for b in item.builds.values() if b.state is BuildState.WAITING
            for r in jobs[b.job].requires}


def finish(build: Build, result: JobResult, at: float | None) -> None:
    build.state = BuildState.DONE
    build.result = result
    build.finished_at = at


RETRIED = frozenset({JobResult.FAILURE, JobResult.TIMED_OUT})
# Runs of one attempt lost to their nodes before the build fails anyway: a
# job that kills every node it runs on must not go round the pool forever.
NODE_FAILURE_RERUNS = 3


def record_result(item: Item, build: Build, result: JobResult, at: float,
                  jobs: Mapping[str, Job], detail: str | None = None,
                  duration: float | None = None, review: bool = False) -> None:
    """A build ended: a run lost to its node runs again (on the same state,
    on another node if there is one) without using an attempt, at most
    NODE_FAILURE_RERUNS times; a failed run with attempts left runs again on
    the same state; otherwise a voting job that did not succeed fails the item at once,
    unless `review` (the pipeline excuses failures its base shares) holds
    the verdict until the base's result for that job is known."""
    if result is JobResult.NODE_FAILURE:
        if build.node_failures < NODE_FAILURE_RERUNS:
            build.retry(counted=False)      # elsewhere, and not held against the change
            return
        detail = f"its node failed {build.node_failures + 1} times" + (
            f", last: {detail}" if detail else "")
    if result in RETRIED and build.attempt < jobs[build.job].attempts:
        build.retry()
        return
    finish(build, result, at)
    build.duration = duration
    if result is not JobResult.SUCCESS and jobs[build.job].voting and not item.failing:
        if review and result in RETRIED and excusable(jobs[build.job]):
            build.review = True         # blame.py: its base's result for the job decides
        else:
            item.failing = f"job {build.job} {result.value}" + (f": {detail}" if detail else "")


def all_done(item: Item) -> bool:
    return item.set_up and all(b.state is BuildState.DONE for b in item.builds.values())


def succeeded(item: Item, jobs: Mapping[str, Job]) -> bool:
    """Every build finished and every voting one passed."""
    return all_done(item) and not item.failing and all(
        passed(b) for b in item.builds.values() if jobs[b.job].voting)


def running(item: Item) -> list[Build]:
    """Its running builds, control builds included."""
    builds = [b for b in item.builds.values() if b.state is BuildState.RUNNING]
    return builds + [b for b in item.controls.values() if b.state is BuildState.RUNNING] if item.controls else builds


def unfinished_exports(item: Item, jobs: Mapping[str, Job]) -> list[str]:
    """Repositories this item still has to export to (one entry per job)."""
    builds, done = item.builds, BuildState.DONE
    return [jobs[j].export for j in item.jobs
            if jobs[j].export and (j not in builds or builds[j].state is not done)]


def exported(item: Item, jobs: Mapping[str, Job]) -> list[tuple[str, str]]:
    """(repository, build) of the item's export builds that succeeded."""
    return [(jobs[b.job].export, b.id) for b in item.builds.values()
            if jobs[b.job].export and b.result is JobResult.SUCCESS]
