"""The scheduler's state as the journal makes it, for what the snapshot lacks.

The status snapshot names each item's base but not the commits of its
speculative state; the scheduler has them. This replays the last
checkpoint and the journal into a scheduler of the web's own (the core is
a pure function, so it decides exactly as the engine did), then feeds only
the rows recorded since, and starts over from a newer checkpoint when the
engine has cut the rows it had not read.
"""
from __future__ import annotations

import threading

from ..config.model import Config
from ..core.scheduler import Scheduler
from ..replay import replay, restore


class LiveState:
    def __init__(self, config: Config):
        self.config = config
        self.scheduler: Scheduler | None = None
        self.seq = 0
        self._lock = threading.Lock()

    def refresh(self, store) -> Scheduler:
        """The scheduler as of every row recorded now."""
        with self._lock:
            cut, _ = store.last_checkpoint()
            if self.scheduler is None or cut > self.seq:
                self.scheduler, self.seq, _ = restore(self.config, store)
            for self.seq, _ in replay(self.scheduler, store, self.seq):
                pass
            return self.scheduler


def chain_of(scheduler: Scheduler, item_id: int) -> list[dict]:
    """The items an item is built on, head first, ending with it."""
    index = scheduler.state.index
    chain, seen = [], set()
    item = index.get(item_id)
    while item is not None and item.id not in seen:
        seen.add(item.id)
        chain.append({"item": item.id, "project": item.change.project, "change": item.change.ref,
                      "revision": item.change.revision})
        item = index.get(item.base) if item.base is not None else None
    return chain[::-1]


def tested_on(scheduler: Scheduler, item_id: int) -> list[dict]:
    """The commits of the item's speculative state, per project and branch."""
    item = scheduler.state.index.get(item_id)
    return [{"project": p, "branch": b, "commit": c} for p, b, c in (item.spec if item else ())]
