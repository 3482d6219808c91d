"""Webhook deliveries already taken, by the id the forge gives each one
(X-GitHub-Delivery, X-Gitea-Delivery, X-Gitlab-Event-UUID...), kept in
STATE/forge/CONNECTION.sqlite so a redelivery is refused after a restart
too, and by every process (web service, engine) that shares the state.

A delivery is claimed before its events are recorded, in one INSERT, so two
copies arriving at once cannot both get in; a claim whose events could not
be recorded is released, so the forge's redelivery is taken then.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Callable

KEEP_SECONDS = 30 * 86400           # forges redeliver within days, not months
PRUNE_EVERY = 1000                  # claims between two prunes


class DeliveryLog:
    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._local = threading.local()
        self._opening = threading.Lock()
        self._claims = 0

    @classmethod
    def of(cls, state_dir: str, connection: str) -> "DeliveryLog":
        return cls(os.path.join(state_dir, "forge", connection + ".sqlite"))

    def db(self) -> sqlite3.Connection:
        """One SQLite connection per thread (web handlers run on executor
        threads), opened one at a time: switching a new file to WAL while
        another connection writes is refused at once (busy), not waited for."""
        db = getattr(self._local, "db", None)
        if db is None:
            with self._opening:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS deliveries "
                           "(id TEXT PRIMARY KEY, at REAL NOT NULL)")
                self._local.db = db
        return db

    def claim(self, delivery: str) -> bool:
        """True if `delivery` was not seen before (it is now); False for a replay."""
        db = self.db()
        taken = db.execute("INSERT OR IGNORE INTO deliveries (id, at) VALUES (?, ?)",
                           (delivery, self.clock())).rowcount == 1
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:
            db.execute("DELETE FROM deliveries WHERE at < ?", (self.clock() - KEEP_SECONDS,))
        return taken

    def release(self, delivery: str) -> None:
        self.db().execute("DELETE FROM deliveries WHERE id = ?", (delivery,))

    def seen(self, delivery: str) -> bool:
        return self.db().execute("SELECT 1 FROM deliveries WHERE id = ?",
                                 (delivery,)).fetchone() is not None
