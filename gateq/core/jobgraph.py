"""The jobs of one item: which may start, which are skipped, how it ended.

Pure functions over an item's builds and the layout's job definitions.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from ..config.model import Job
from .state import Build, Item
from .types import BuildState, JobResult


def set_up(item: Item) -> None:
    """Create the builds of the item's current generation, once."""
    if not item.started:
        item.builds = {job: Build(id=item.build_id(job), job=job) for job in item.jobs}
        item.started = True


def ready(item: Item, jobs: Mapping[str, Job],
          exports_ahead: Mapping[str, int] | None = None) -> Iterator[Build]:
    """Waiting builds whose dependencies succeeded; skip those whose did not.

    A job that `requires` a repository also waits until no export to it is
    unfinished among the items ahead (`exports_ahead`: repository -> count).
    A skipped voting job fails the item: it cannot land untested.
    """
    for build in item.builds.values():
        if build.state is not BuildState.WAITING:
            continue
        if exports_ahead and any(exports_ahead.get(r) for r in jobs[build.job].requires):
            continue
        deps = [item.builds[d] for d in jobs[build.job].dependencies if d in item.builds]
        failed = [d for d in deps if d.state is BuildState.DONE and d.result is not JobResult.SUCCESS]
        if failed:
            finish(build, JobResult.SKIPPED, None)
            if jobs[build.job].voting and not item.failing:
                item.failing = f"job {build.job} skipped: dependency {failed[0].job} did not succeed"
        elif all(d.state is BuildState.DONE for d in deps):
            yield build


def finish(build: Build, result: JobResult, at: float | None) -> None:
    build.state = BuildState.DONE
    build.result = result
    build.finished_at = at


def record_result(item: Item, build: Build, result: JobResult, at: float,
                  jobs: Mapping[str, Job], detail: str | None = None) -> None:
    """A build ended: a voting job that did not succeed fails the item at once."""
    finish(build, result, at)
    if result is not JobResult.SUCCESS and jobs[build.job].voting and not item.failing:
        item.failing = f"job {build.job} {result.value}" + (f": {detail}" if detail else "")


def all_done(item: Item) -> bool:
    return item.started and all(b.state is BuildState.DONE for b in item.builds.values())


def succeeded(item: Item, jobs: Mapping[str, Job]) -> bool:
    """Every build finished and every voting one succeeded."""
    return all_done(item) and not item.failing and all(
        b.result is JobResult.SUCCESS for b in item.builds.values() if jobs[b.job].voting)


def running(item: Item) -> list[Build]:
    return [b for b in item.builds.values() if b.state is BuildState.RUNNING]


def job_records(item: Item) -> list[dict]:
    """The `jobs` list of a result: what each job of the item came to."""
    out = []
    for job in item.jobs:
        build = item.builds.get(job)
        if build is None:
            out.append({"name": job, "result": JobResult.SKIPPED.value, "build": None})
        else:
            result = build.result or (JobResult.CANCELLED if build.state is BuildState.RUNNING
                                      else JobResult.SKIPPED)
            out.append({"name": job, "result": result.value, "build": build.id})
    return out


def unfinished_exports(item: Item, jobs: Mapping[str, Job]) -> Iterator[str]:
    """Repositories this item still has to export to (one entry per job)."""
    for job in item.jobs:
        build = item.builds.get(job)
        if jobs[job].export and (build is None or build.state is not BuildState.DONE):
            yield jobs[job].export


def exported(item: Item, jobs: Mapping[str, Job]) -> list[tuple[str, str]]:
    """(repository, build) of the item's export builds that succeeded."""
    return [(jobs[b.job].export, b.id) for b in item.builds.values()
            if jobs[b.job].export and b.result is JobResult.SUCCESS]
