"""The last answer of a costly read, kept for a fraction of a second.

Fifty clients reading the status at once need not each parse the snapshot
and every result: the first computes it, those arriving meanwhile wait for
that answer, and later ones reuse it until it is `ttl` seconds old. The
pages are then at most that much behind the store.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class Recent:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._values: dict[str, tuple[float, object]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, compute: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:                                   # one computes, the others wait for it
            hit = self._values.get(key)
            if hit is not None and self.clock() - hit[0] < self.ttl:
                return hit[1]
            value = compute()
            self._values[key] = (self.clock(), value)
            return value
