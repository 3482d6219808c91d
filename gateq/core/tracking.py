"""What the scheduler keeps about one queue so that an event touches only
what it changes, instead of a pass over every item of every queue.

All of it is derived from the State (Queues rebuilds it after a checkpoint
is loaded, or after a promote reorders a queue):
- `dirty`: items to evaluate again, taken in queue order;
- `carry`: what each item passes to the one behind it: its nearest
  non-failing item (itself, unless it is failing);
- `exporters`: per repository, the non-failing items with an export to it
  unfinished; a job that requires the repository waits while one is ahead;
- `waiters`: per repository, items with a build waiting for those exports;
- `ready`: items that may have builds to start.
Keys are item orders (queue order), or item ids where arrival is the order.
"""
from __future__ import annotations

import heapq
from typing import Iterable

from ..config.model import Pipeline
from .state import ChangeQueue, Item

# (the nearest non-failing item, what of it the item behind depends on:
# its id, generation and whether it is merged)
Carry = tuple["Item | None", "tuple[int, int, bool] | None"]


class OrderedIds:
    """A set of item ids taken smallest key first; entries left stale by a
    discard or a new key are dropped when they come to the top."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []
        self._keys: dict[int, int] = {}

    def add(self, key: int, item_id: int) -> None:
        if self._keys.get(item_id) != key:
            self._keys[item_id] = key
            heapq.heappush(self._heap, (key, item_id))

    def discard(self, item_id: int) -> None:
        self._keys.pop(item_id, None)

    def first(self) -> tuple[int, int] | None:
        heap = self._heap
        while heap and self._keys.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def pop(self) -> tuple[int, int] | None:
        top = self.first()
        if top is not None:
            heapq.heappop(self._heap)
            del self._keys[top[1]]
        return top

    def pop_through(self, key: float) -> list[tuple[int, int]]:
        """Take every entry whose key is at most `key`."""
        out = []
        while (top := self.first()) is not None and top[0] <= key:
            out.append(self.pop())
        return out

    def __bool__(self) -> bool:
        return self.first() is not None


class QueueTracker:
    def __init__(self, rank: int, queue: ChangeQueue, pipeline: Pipeline, pipeline_rank: int):
        self.rank = rank                              # the queue's place in its pipeline
        self.queue = queue
        self.pipeline = pipeline
        self.dependent = pipeline.dependent
        self.key = (pipeline_rank, rank, pipeline.name, queue.name)   # settle's order of queues
        self.dirty = OrderedIds()
        self.carry: dict[int, Carry] = {}
        self.failing: dict[int, bool] = {}            # as last evaluated
        self.exporting: dict[int, frozenset[str]] = {}
        self.exporters: dict[str, OrderedIds] = {}
        self.waiters: dict[str, OrderedIds] = {}
        self.ready = OrderedIds()

    def nnfi_behind(self, item: Item | None) -> Item | None:
        """The nearest non-failing item of the one behind `item` (None: the head's)."""
        return self.carry[item.id][0] if item is not None else None

    def set_carry(self, item: Item, nnfi_out: Item | None) -> bool:
        """Record what the item passes behind it; True if that changed."""
        sig = None if nnfi_out is None else (nnfi_out.id, nnfi_out.generation, nnfi_out.merged)
        old = self.carry.get(item.id)
        self.carry[item.id] = (nnfi_out, sig)
        return old is None or old[1] != sig

    def blocked(self, item: Item, repository: str) -> bool:
        exporters = self.exporters.get(repository)
        first = exporters.first() if exporters else None
        return first is not None and first[0] < item.order

    def set_exports(self, item: Item, repositories: Iterable[str]) -> list[int]:
        """The repositories the item has unfinished exports to (none once it
        fails or leaves); the ids of the waiters that are free now."""
        new = frozenset(repositories)
        old = self.exporting.get(item.id, frozenset())
        if new == old:
            return []
        if new:
            self.exporting[item.id] = new
        else:
            self.exporting.pop(item.id, None)
        for repo in new - old:
            self.exporters.setdefault(repo, OrderedIds()).add(item.order, item.id)
        woken = []
        for repo in old - new:
            self.exporters[repo].discard(item.id)
            first = self.exporters[repo].first()
            waiters = self.waiters.get(repo)
            if waiters:
                woken += [i for _, i in waiters.pop_through(first[0] if first else float("inf"))]
        return woken

    def wait(self, item: Item, repositories: Iterable[str]) -> None:
        for repo in repositories:
            self.waiters.setdefault(repo, OrderedIds()).add(item.order, item.id)

    def forget(self, item: Item) -> list[int]:
        """The item left the queue; the waiters that are free now."""
        self.carry.pop(item.id, None)
        self.failing.pop(item.id, None)
        self.dirty.discard(item.id)
        self.ready.discard(item.id)
        return self.set_exports(item, ())
