"""One ZooKeeperStore for every thread of a process that only serves
(the web service, its webhook receivers): kazoo's client is thread-safe,
so the threads share one session rather than open one each. It is opened
at the first use, under a lock, and again after it could not be: a web
service started before ZooKeeper answers serves once it does."""
from __future__ import annotations

import threading

from ..config.model import ZooKeeperSettings
from .store import ZooKeeperStore


class SharedStore:
    def __init__(self, settings: ZooKeeperSettings, state_dir: str, create: bool) -> None:
        self.settings, self.state_dir, self.create = settings, state_dir, create
        self._store: ZooKeeperStore | None = None
        self._lock = threading.Lock()

    def get(self) -> ZooKeeperStore:
        """The store (StateError, NoState: not now; the next call tries again)."""
        with self._lock:
            if self._store is None:
                self._store = ZooKeeperStore(self.settings, self.state_dir, self.create)
            return self._store

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
