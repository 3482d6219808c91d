"""Reading the gate's store from the web's worker threads: the state
directory's SQLite database, or ZooKeeper when gateq.yaml has
`zookeeper:` (then any host with the configuration serves the same pages).

SQLite's connections belong to the thread that opened them: each worker
thread keeps one, opened without creating anything (a state directory no
gate has written yet reads as an empty gate). A database file replaced (a
backup restored) is opened anew: a connection would go on reading the
file it opened. ZooKeeper's store is one for every thread (zk/shared.py).
A store that cannot be read is Unavailable, which the handlers answer
with 503.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading

from ..config.model import Config
from ..state import NoState, SqliteStore, StateError, open_store
from ..state.sqlite import DB_NAME

EMPTY_STATUS = {"pipelines": [], "running_builds": 0, "slots": 0, "pending_events": 0}


class Unavailable(Exception):
    """The store cannot be read right now; the message is one line."""


class StateReader:
    """Invariant: a thread's store is dropped after any error, so the next
    read opens the database afresh (it may have been restored meanwhile)."""

    def __init__(self, config: Config):
        self.state_dir = config.state_dir
        self._local = threading.local()
        self._opened: list[SqliteStore] = []
        self._lock = threading.Lock()
        self.shared = None
        if config.zookeeper is not None:
            from ..zk.shared import SharedStore
            self.shared = SharedStore(config.zookeeper, config.state_dir, create=False)

    def _store(self):
        if self.shared is not None:
            try:
                return self.shared.get()
            except NoState:
                return None
        store, opened = getattr(self._local, "store", None), getattr(self._local, "inode", None)
        if store is not None and file_id(store.path) != opened:
            self._local.store = store = None            # replaced since: read the new one
        if store is None:
            path = os.path.join(self.state_dir, DB_NAME)
            inode = file_id(path)
            try:
                store = open_store(self.state_dir, create=False)
            except NoState:
                return None
            self._local.store, self._local.inode = store, inode
            with self._lock:
                self._opened.append(store)
        return store

    @contextlib.contextmanager
    def _reading(self):
        try:
            yield self._store()
        except StateError as exc:
            self._local.store = None          # (ZooKeeper's client reconnects by itself)
            raise Unavailable(str(exc)) from None

    def status(self) -> dict:
        """The engine's last snapshot, with the journal rows it has not read yet."""
        with self._reading() as store:
            if store is None:
                return dict(EMPTY_STATUS)
            status = store.read_status() or dict(EMPTY_STATUS)
            cursor = status.get("cursor", store.last_checkpoint()[0])
            status["pending_events"] = store.pending_count(cursor)
            return status

    def results(self) -> list[dict]:
        """Finished items, oldest first."""
        with self._reading() as store:
            return [] if store is None else store.results()

    def outbox(self) -> dict[str, dict]:
        """Per connection, the report outbox's counts (SqliteStore.outbox_stats)."""
        with self._reading() as store:
            return {} if store is None else store.outbox_stats()

    def journal_rows(self) -> int:
        """How many journal rows were ever recorded (the last row's number)."""
        with self._reading() as store:
            return 0 if store is None else store.last_seq()

    def with_store(self, read):
        """`read(store)` for readers that need more (replay); None without a store."""
        with self._reading() as store:
            return None if store is None else read(store)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            with contextlib.suppress(sqlite3.ProgrammingError):   # another thread's
                store.close()


def file_id(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
