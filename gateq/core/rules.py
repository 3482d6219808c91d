"""What one item does, given what surrounds it in its queue.

Dependent queues follow Zuul's nearest-non-failing-item rule: every item
must be built on the nearest item ahead that is not failing; an item whose
base differs is reset. Only the head reports or lands, and a merge conflict
is final only there, where the base is the branch itself. Independent
queues test each item alone on the branch tips and report it once decided.
A batch (an item of several changes) that fails is split in halves; a
cycle (changes that need each other, one item) is not: it fails whole. A
head in a pipeline with requirements lands only once they are checked
again (checks.py).

The rules change only the item they judge, and return the actions that
follow and whether it must leave its queue; settle.py keeps the books.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..config.model import BatchKind, Layout, Pipeline
from . import blame, checks, jobgraph
from .actions import Action, Land, Move, PrepareMerge
from .lifecycle import cancel_builds, reset
from .state import Item, Member, Stage
from .types import ItemResult, state_dict

NeededKeys = Callable[[Item], tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class Surroundings:
    """An item's place in a dependent queue, as the items ahead left it."""
    nnfi: Item | None                   # nearest non-failing item ahead; None: the branch tips
    position: int
    window: int
    failing_dependency: Item | None     # the first change it needs that is failing
    blocked: jobgraph.Blocked           # an export to this repository is unfinished ahead


@dataclass(slots=True)
class Outcome:
    actions: list[Action] = field(default_factory=list)
    leave: ItemResult | None = None     # the item leaves its queue with this result
    reason: str | None = None
    shrink: bool = False                # a failure at the head shrinks the window
    split: bool = False                 # a failing batch: its halves are tested again


def joins(tail: Item, change: Member, pipeline: Pipeline) -> bool:
    """A change arriving in a dependent queue joins the item at its tail while
    that item is a batch with room, has started nothing and is not failing;
    with batch_kind SERIES, only if it needs one of the batch's changes."""
    if not (pipeline.dependent and len(tail.members) < pipeline.batch_size and not tail.sealed
            and not tail.failing and tail.stage is not Stage.LANDING):
        return False
    return pipeline.batch_kind is BatchKind.ANY or any(m.id in change.depends_on for m in tail.members)


def dependent(item: Item, around: Surroundings, pipeline: Pipeline, layout: Layout,
              keys: NeededKeys, now: float) -> Outcome:
    out = Outcome()
    base = around.nnfi
    if item.stage is not Stage.LANDING and not built_on(item, base):
        out.actions += reset(item, base, now)
    dep = around.failing_dependency
    if dep is not None and not item.failing:
        # Held until the needed change is tested again (a reset) or leaves.
        item.failing = f"needed change {dep.change.name} is failing: {dep.failing}"
    in_window = around.position < around.window
    if item.stage is Stage.QUEUED and (in_window or not pipeline.merge_in_window_only):
        out.actions += request_merge(item, base, layout, keys)
    if item.merged and in_window:
        jobgraph.set_up(item)
        if pipeline.excuse_base_failures:
            blame.review(item, base)
        jobgraph.skip_unreachable(item, layout.jobs, around.blocked)
    if dep is None and item.failing and len(item.members) > 1 and item.stage is not Stage.LANDING \
            and not is_cycle(item):
        out.split = True                # one of its changes failed it, or conflicts
        return out
    if item.failing and pipeline.fail_fast:
        out.actions += cancel_builds(item, now)
    if around.position == 0 and item.stage is not Stage.LANDING:
        judge_head(item, pipeline, layout, out)
    return out


def built_on(item: Item, base: Item | None) -> bool:
    if base is None:
        return item.base is None
    return item.base == base.id and item.base_generation == base.generation


def judge_head(item: Item, pipeline: Pipeline, layout: Layout, out: Outcome) -> None:
    """The head is decided: a conflict (with the branch itself), a failure,
    or a success that lands (compare-and-swap on its branch) or reports."""
    if item.stage is Stage.CONFLICT:
        out.leave, out.reason = ItemResult.MERGE_CONFLICT, item.failing
    elif item.failing:
        if pipeline.fail_fast or not item.set_up or jobgraph.all_done(item):
            out.leave, out.reason, out.shrink = ItemResult.FAILED, item.failing, True
    elif item.merged and jobgraph.succeeded(item, layout.jobs):
        if not pipeline.merge_on_success:
            out.leave = ItemResult.SUCCEEDED
            return
        asks, refused, ready = checks.before_landing(item, pipeline, layout)
        out.actions += asks
        if refused:
            out.leave, out.reason = ItemResult.DEQUEUED, refused
        elif ready:
            out.actions.append(land(item, layout))


def is_cycle(item: Item) -> bool:
    """Its changes need each other (one needs a change after it in the item):
    a cycle, which only lands whole. A batch's changes need only earlier ones."""
    place = {m.id: n for n, m in enumerate(item.members)}
    return any(place.get(d, -1) > n for n, m in enumerate(item.members) for d in m.depends_on)


def land(item: Item, layout: Layout) -> Land:
    project, branch = item.change.project, item.change.branch
    item.move(Stage.LANDING)
    exported = jobgraph.exported(item, layout.jobs)
    publish = tuple((repo, tuple(b for r, b in exported if r == repo))
                    for repo in layout.queue_repositories(item.queue))
    spec = state_dict(item.spec)
    also = tuple(Move(p, b, old, spec[(p, b)]) for p, b, old in item.bases)
    return Land(item.id, item.generation, project, branch, old=item.base_commit,
                new=spec[(project, branch)], change=item.change,
                state=item.spec, publish=publish, also=also, more=item.changes[1:])


def independent(item: Item, pipeline: Pipeline, layout: Layout, keys: NeededKeys) -> Outcome:
    out = Outcome(request_merge(item, None, layout, keys))
    if item.stage is Stage.CONFLICT:
        out.leave, out.reason = ItemResult.MERGE_CONFLICT, item.failing
    elif item.merged:
        jobgraph.set_up(item)
        jobgraph.skip_unreachable(item, layout.jobs)
        if item.failing and (pipeline.fail_fast or jobgraph.all_done(item)):
            out.leave, out.reason = ItemResult.FAILED, item.failing
        elif jobgraph.succeeded(item, layout.jobs):
            out.leave = ItemResult.SUCCEEDED
    return out


def request_merge(item: Item, base: Item | None, layout: Layout, keys: NeededKeys) -> list[Action]:
    """Ask for the item's merge once its base's state is known: one merge per item."""
    if item.stage is not Stage.QUEUED or (base is not None and not base.merged):
        return []
    item.move(Stage.MERGING)
    project = layout.projects[item.change.project]
    more = tuple((c, layout.projects[c.project].merge_mode) for c in item.changes[1:])
    return [PrepareMerge(item.id, item.generation, item.change, project.merge_mode,
                         base.spec if base else (), keys(item), more)]
