"""The state directory's SQLite database: the truth that survives a kill.

- `journal`: every scheduler event in the order it was recorded, by the CLI
  (events, enqueue, dequeue, promote) or by the engine (merge, build and
  landing results). Replaying it through the scheduler rebuilds the state.
- `checkpoints`: the little that outlives an idle gate (item counter,
  windows), so replay can start after the last idle point.
- `results`: finished items, written idempotently.
- `status`: the last snapshot the engine wrote, for `gateq status`.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Iterator

from .core import codec
from .core.events import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (n INTEGER PRIMARY KEY AUTOINCREMENT,
                                    item INTEGER UNIQUE NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS status (id INTEGER PRIMARY KEY CHECK (id = 1),
                                   snapshot TEXT NOT NULL, updated_at REAL NOT NULL);
"""


class Store:
    def __init__(self, state_dir: str):
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir = state_dir
        self.db = sqlite3.connect(os.path.join(state_dir, "gateq.db"), timeout=30,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- journal ------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Durable once this returns: the row is committed."""
        cur = self.db.execute("INSERT INTO journal (event) VALUES (?)", (codec.encode(event),))
        return cur.lastrowid

    def events_after(self, seq: int) -> Iterator[tuple[int, Event]]:
        rows = self.db.execute("SELECT seq, event FROM journal WHERE seq > ? ORDER BY seq",
                               (seq,)).fetchall()
        for row_seq, text in rows:
            yield row_seq, codec.decode(text)

    def pending_count(self, seq: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM journal WHERE seq > ?", (seq,)).fetchone()[0]

    # -- checkpoints --------------------------------------------------------

    def checkpoint(self, seq: int, data: dict) -> None:
        """Everything up to `seq` is summarised by `data`; older rows go."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (seq, json.dumps(data)))
            self.db.execute("DELETE FROM checkpoints WHERE seq < ?", (seq,))
            self.db.execute("DELETE FROM journal WHERE seq <= ?", (seq,))

    def last_checkpoint(self) -> tuple[int, dict | None]:
        row = self.db.execute("SELECT seq, data FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], json.loads(row[1])) if row else (0, None)

    # -- results and status -------------------------------------------------

    def add_result(self, record: dict) -> None:
        self.db.execute("INSERT OR IGNORE INTO results (item, record) VALUES (?, ?)",
                        (record["item"], json.dumps(record, sort_keys=True)))

    def results(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT record FROM results ORDER BY n")]

    def write_status(self, snapshot: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO status VALUES (1, ?, ?)",
                        (json.dumps(snapshot, sort_keys=True), time.time()))

    def read_status(self) -> dict | None:
        row = self.db.execute("SELECT snapshot FROM status WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None
