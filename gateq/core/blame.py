"""Whose failure is it? With `excuse-base-failures`, a voting job that fails
on an item fails it only if the same job passes on the item's base: the
state its changes were merged onto.

That base is the state of the item ahead (its nearest non-failing item),
whose own build of the job, once done, decides; at the head, or when the
item ahead does not run the job, a control build runs the job alone on the
base (without the item's changes). A job that fails there too is excused:
it counts as passed for this item (the branch is broken already, and not
by it), and its result says so. Until the base's result is known the item
is not failing, and it cannot land.
"""
from __future__ import annotations

from .state import Build, Item
from .types import BuildState, JobResult, SpecState, state_dict, state_tuple

DECIDING = frozenset({JobResult.SUCCESS, JobResult.FAILURE, JobResult.TIMED_OUT})
WORDS = {JobResult.FAILURE: "fails", JobResult.TIMED_OUT: "times out"}


def review(item: Item, base: Item | None) -> None:
    """Give a verdict on every failure of the item held for review, where the
    base's result is known; ask for a control build where there is none."""
    for build in item.builds.values():
        if not build.review or item.failing:
            continue
        verdict = base_result(item, base, build.job)
        if verdict is None:
            continue
        build.review = False
        if verdict is JobResult.SUCCESS:
            item.failing = f"job {build.job} {build.result.value}; it passes on the item's base"
        else:
            build.excused = f"it {WORDS[verdict]} on the item's base too"


def base_result(item: Item, base: Item | None, job: str) -> JobResult | None:
    """The job's result on the item's base, None until it is known."""
    own = base.builds.get(job) if base is not None else None
    if own is not None and (own.state is not BuildState.DONE or own.result in DECIDING):
        return own.result if own.state is BuildState.DONE else None
    control = item.controls.get(job)
    if control is None:
        item.controls[job] = Build(id=f"{item.build_id(job)}@base", job=job)
        return None
    return control.result if control.state is BuildState.DONE and control.result in DECIDING else None


def base_state(item: Item) -> SpecState:
    """What the item's changes were merged onto: its state with each branch
    they changed back at the commit it was at below them."""
    state = state_dict(item.spec)
    state[(item.change.project, item.change.branch)] = item.base_commit
    for project, branch, commit in item.bases:
        state[(project, branch)] = commit
    return state_tuple(state)
