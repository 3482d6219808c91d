"""One ZooKeeperStore for every thread of a process that only serves
(the web service, its webhook receivers): kazoo's client is thread-safe,
so the threads share one session rather than open one each. It is opened
at the first use, under a lock, and again after it could not be: a web
service started before ZooKeeper answers serves once it does. Its client
is patient (client.py): it reconnects for as long as ZooKeeper is away,
and meanwhile `get` says so at once (kazoo would hold a request until
it is back): the service answers 503, then serves again."""
from __future__ import annotations

import threading

from ..config.model import ZooKeeperSettings
from ..state.errors import StateError
from .client import connect, where
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
                client = connect(self.settings, patient=True)
                try:
                    self._store = ZooKeeperStore(self.settings, self.state_dir, self.create,
                                                 client=client)
                except BaseException:
                    client.stop()
                    client.close()
                    raise
            store = self._store
        if not store.zk.connected:
            raise StateError(f"{where(self.settings)}: not connected, reconnecting (check that "
                             "ZooKeeper runs there)")
        return store

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
            store.zk.stop()
            store.zk.close()
