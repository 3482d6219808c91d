"""One scheduling pass over every queue, after each event.

Dependent queues follow Zuul's nearest-non-failing-item rule: every item
must be built on the nearest item ahead that is not failing; an item whose
base differs is reset. Only the head reports or lands. Builds then start in
priority order (queue order, gate pipelines first) while slots are free.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.model import Pipeline
from . import jobgraph
from .actions import Action, Land, PrepareMerge, StartBuild
from .lifecycle import cancel_builds, reset
from .state import Build, ChangeQueue, Item, MergeState
from .types import ItemResult, state_dict
from .window import shrink

if TYPE_CHECKING:
    from .scheduler import Scheduler


def process(scheduler: "Scheduler", actions: list[Action]) -> None:
    """Repeat the pass until it removes nothing, then start builds."""
    while True:
        ready: list[tuple[Item, Build]] = []
        removed = False
        for name, pipeline in scheduler.layout.pipelines.items():
            pstate = scheduler.state.pipelines.get(name)
            for queue in (pstate.queues.values() if pstate else ()):
                if pipeline.dependent:
                    removed |= dependent_pass(scheduler, pipeline, queue, ready, actions)
                else:
                    removed |= independent_pass(scheduler, queue, ready, actions)
        if not removed:
            break
    start_builds(scheduler, sorted_by_priority(scheduler, ready), actions)


def dependent_pass(s: "Scheduler", pipeline: Pipeline, queue: ChangeQueue, ready: list,
                   actions: list[Action]) -> bool:
    nnfi: Item | None = None
    position = 0
    removed = False
    exports_ahead: dict[str, int] = {}      # unfinished exports among the items ahead
    for item in list(queue.items):
        if item.removed:
            continue
        want = (nnfi.id, nnfi.generation) if nnfi else (None, None)
        if not item.landing and (item.base, item.base_generation) != want:
            reset(s, item, nnfi, actions)
        problem = dependency_problem(s, item)
        if problem and not item.failing:
            item.failing = problem      # held until the dependency is re-tested or leaves
        request_merge(s, item, nnfi, actions)
        if item.merge is MergeState.MERGED and position < queue.window:
            jobgraph.set_up(item)
            ready.extend((position, item, b) for b in jobgraph.ready(item, s.layout.jobs, exports_ahead))
        if item.failing:
            cancel_builds(s, item, actions)
        if position == 0 and not item.landing:
            if item.merge is MergeState.CONFLICT:   # on the branch tips: final
                s.remove(item, ItemResult.MERGE_CONFLICT, item.conflict, actions)
                removed = True
                continue
            if item.failing:            # its builds were cancelled just above
                queue.window = shrink(queue.window, pipeline.window)
                s.remove(item, ItemResult.FAILED, item.failing, actions)
                removed = True
                continue
            if item.merge is MergeState.MERGED and jobgraph.succeeded(item, s.layout.jobs):
                finish_head(s, item, pipeline, actions)
                if item.removed:
                    removed = True
                    continue
        position += 1
        if not item.failing:
            nnfi = item
            for repo in jobgraph.unfinished_exports(item, s.layout.jobs):
                exports_ahead[repo] = exports_ahead.get(repo, 0) + 1
    return removed


def finish_head(s: "Scheduler", item: Item, pipeline: Pipeline, actions: list[Action]) -> None:
    """A successful head lands (compare-and-swap on its branch) or reports."""
    if not pipeline.merge_on_success:
        s.remove(item, ItemResult.SUCCEEDED, None, actions)
        return
    key = (item.change.project, item.change.branch)
    item.landing = True
    exported = jobgraph.exported(item, s.layout.jobs)
    publish = tuple((repo, tuple(b for r, b in exported if r == repo))
                    for repo in s.layout.queue_repositories(item.queue))
    actions.append(Land(item.id, item.generation, key[0], key[1],
                        old=item.base_commit, new=state_dict(item.state)[key],
                        change=item.change, state=item.state, publish=publish))


def independent_pass(s: "Scheduler", queue: ChangeQueue, ready: list, actions: list[Action]) -> bool:
    """Each item on its own branch tips; it reports as soon as it is decided."""
    removed = False
    for item in list(queue.items):
        if item.removed:
            continue
        request_merge(s, item, None, actions)
        if item.merge is MergeState.CONFLICT:
            s.remove(item, ItemResult.MERGE_CONFLICT, item.conflict, actions)
        elif item.merge is MergeState.MERGED:
            jobgraph.set_up(item)
            ready.extend((0, item, b) for b in jobgraph.ready(item, s.layout.jobs))
            if item.failing:
                s.remove(item, ItemResult.FAILED, item.failing, actions)
            elif jobgraph.succeeded(item, s.layout.jobs):
                s.remove(item, ItemResult.SUCCEEDED, None, actions)
        removed |= item.removed
    return removed


def dependency_problem(s: "Scheduler", item: Item) -> str | None:
    """A needed change that is failing makes this one fail too (Zuul's rule).

    If the needed change is later re-tested and passes, this item is reset
    with it; if it leaves the queue unlanded, `remove` dequeues this one.
    """
    for dep_id in item.depends_on:
        dep = s.state.index.get(dep_id)
        if dep is not None and dep.failing:
            return f"needed change {dep.change.name} is failing: {dep.failing}"
    return None


def request_merge(s: "Scheduler", item: Item, base: Item | None, actions: list[Action]) -> None:
    """Ask for the item's merge once its base's state is known: one merge per item."""
    if item.merge is not MergeState.PENDING:
        return
    if base is not None and base.merge is not MergeState.MERGED:
        return
    item.merge = MergeState.REQUESTED
    project = s.layout.projects[item.change.project]
    actions.append(PrepareMerge(item.id, item.generation, item.change, project.merge_mode,
                                base.state if base else (), needed_keys(s, item)))


def needed_keys(s: "Scheduler", item: Item) -> tuple[tuple[str, str], ...]:
    """Every project of the item's queue, on the item's branch or its default one."""
    keys = set()
    for name in s.layout.queue_projects(item.queue):
        keys.add((name, item.change.branch))
        keys.add((name, s.layout.projects[name].default_branch))
    keys.add((item.change.project, item.change.branch))
    return tuple(sorted(keys))


def sorted_by_priority(s: "Scheduler", ready: list) -> list:
    """Gate pipelines before the others; then position in queue, so the head
    of a queue that waited longer goes before a deep item of another queue;
    then arrival."""
    order = {name: (0 if p.dependent else 1, i)
             for i, (name, p) in enumerate(s.layout.pipelines.items())}
    return sorted(ready, key=lambda r: (order[r[1].pipeline], r[0], r[1].id))


def start_builds(s: "Scheduler", ready: list, actions: list[Action]) -> None:
    for _, item, build in ready:
        if len(s.state.builds) >= s.slots:
            return
        if item.removed or item.failing:
            continue
        build.state = jobgraph.BuildState.RUNNING
        build.started_at = s.state.now
        s.state.builds[build.id] = item.id
        items = chain(s, item)
        artifacts = tuple(a for i in items for a in jobgraph.exported(i, s.layout.jobs))
        actions.append(StartBuild(build.id, item.id, item.pipeline, build.job, item.change,
                                  item.state, tuple(i.change.name for i in items), artifacts))


def chain(s: "Scheduler", item: Item) -> list[Item]:
    """The items of this one's speculative state, head first, itself last."""
    items = []
    current: Item | None = item
    while current is not None:
        items.append(current)
        current = s.state.index.get(current.base) if current.base is not None else None
    return items[::-1]
