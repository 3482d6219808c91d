"""After an event: evaluate again, in queue order, only the items it touched.

Evaluating an item whose surroundings did not change decides nothing, so
the items an event did not touch are left alone; an evaluation that
changes what an item passes to the items behind it (its nearest non-failing
item, its exports, whether it fails) touches them in turn. Queues are taken
in pipeline order, then in the order they were made, as a full pass would.
"""
from __future__ import annotations

from . import rules
from .actions import Action
from .queues import Queues
from .rules import NeededKeys, Surroundings
from .state import Item
from .tracking import QueueTracker
from .window import shrink


def settle(queues: Queues, keys: NeededKeys) -> list[Action]:
    actions: list[Action] = []
    while queues.dirty_queues:
        key = min(queues.dirty_queues)
        tracker = queues.trackers[key[2:]]      # key: tracker.key
        while (top := tracker.dirty.pop()) is not None:
            item = queues.state.index.get(top[1])
            if item is not None:
                actions += evaluate(queues, tracker, item, keys)
                tracker = queues.trackers[key[2:]]     # a split renumbers the queue's books
        queues.dirty_queues.discard(key)
    return actions


def evaluate(queues: Queues, tracker: QueueTracker, item: Item, keys: NeededKeys) -> list[Action]:
    layout, now, queue, pipeline = queues.layout, queues.state.now, tracker.queue, tracker.pipeline
    nnfi, position = None, 0
    if tracker.dependent:
        position = queue.position(item)
        nnfi = tracker.nnfi_behind(queue.at(position - 1))
        around = Surroundings(nnfi, position, queue.window,
                              failing_dependency(queues, item),
                              queues.blocked_for(tracker, item))
        out = rules.dependent(item, around, pipeline, layout, keys, now)
    else:
        out = rules.independent(item, pipeline, layout, keys)
    actions = queues.cancelled(out.actions) if out.actions else out.actions
    if out.shrink:
        queue.window = shrink(queue.window, pipeline.window)
    if out.split:
        return actions + queues.split(item)
    if out.leave is not None:
        return actions + queues.remove(item, out.leave, out.reason)
    for other in queues.book(tracker, item, nnfi, position):
        queues.touch(other)
    queues.book_ready(tracker, item, position)
    return actions


def failing_dependency(queues: Queues, item: Item) -> Item | None:
    """The first item holding a change this one needs that is failing."""
    for dep_id in item.needs():
        dep = queues.state.holders.get(dep_id)
        if dep is not None and dep.failing:
            return dep
    return None
