"""After an event: evaluate again, in queue order, only the items it touched.

Evaluating an item whose surroundings did not change decides nothing, so
the items an event did not touch are left alone; an evaluation that
changes what an item passes to the items behind it (its nearest non-failing
item, its exports, whether it fails) touches them in turn. Queues are taken
in pipeline order, then in the order they were made, as a full pass would.
"""
from __future__ import annotations

from ..config.model import Pipeline
from . import rules
from .actions import Action
from .queues import Queues
from .rules import NeededKeys, Surroundings
from .state import ChangeQueue, Item
from .window import shrink


def settle(queues: Queues, keys: NeededKeys) -> list[Action]:
    actions: list[Action] = []
    while queues.dirty_queues:
        key = min(queues.dirty_queues)
        _, _, pipeline, name = key
        queue = queues.state.pipelines[pipeline].queues[name]
        tracker = queues.tracker(pipeline, name)
        while (top := tracker.dirty.pop()) is not None:
            item = queues.state.index.get(top[1])
            if item is not None:
                actions += evaluate(queues, queues.layout.pipelines[pipeline], queue, item, keys)
        queues.dirty_queues.discard(key)
    return actions


def evaluate(queues: Queues, pipeline: Pipeline, queue: ChangeQueue, item: Item,
             keys: NeededKeys) -> list[Action]:
    layout, now = queues.layout, queues.state.now
    nnfi = None
    if pipeline.dependent:
        position = queue.position(item)
        nnfi = queues.tracker_of(item).nnfi_behind(queue.at(position - 1))
        around = Surroundings(nnfi, position, queue.window, failing_dependency(queues, item),
                              queues.blocked_for(item))
        out = rules.dependent(item, around, pipeline, layout, keys, now)
    else:
        out = rules.independent(item, pipeline, layout, keys)
    actions = queues.cancelled(out.actions)
    if out.shrink:
        queue.window = shrink(queue.window, pipeline.window)
    if out.leave is not None:
        return actions + queues.remove(item, out.leave, out.reason)
    for other in queues.book(item, nnfi):
        queues.touch(other)
    queues.book_ready(item)
    return actions


def failing_dependency(queues: Queues, item: Item) -> Item | None:
    for dep_id in item.depends_on:
        dep = queues.state.index.get(dep_id)
        if dep is not None and dep.failing:
            return dep
    return None
