"""The state database's `intake` table: what the connections' sources and
the hook scripts heard (driver-neutral ReviewEvents, as JSON), durable as
soon as they heard it, before the engine has made journal events of them.

A row is `pending` until the engine has asked what it needs (the change's
state, what it depends on) and journaled the TriggerEvent, in the same
transaction that marks the row `journaled` with its journal row; or
`dropped`, with why (its change is gone, it names no project of the
layout). A restart takes up the rows still pending, in order. A mixin of
SqliteStore, which owns `db`, `_guard` and `_insert_event`.
"""
from __future__ import annotations

from ..core.events import Event

INTAKE_TABLES = {
    "intake": "CREATE TABLE intake (id INTEGER PRIMARY KEY AUTOINCREMENT, connection TEXT NOT NULL, "
              "event TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', received_at REAL NOT NULL, "
              "done_at REAL, seq INTEGER, note TEXT)",
    "intake_pending": "CREATE INDEX IF NOT EXISTS intake_pending ON intake (state, connection, id)",
}
INTAKE_COLUMNS = ("id", "connection", "event", "state", "received_at", "done_at", "seq", "note")


class IntakeTable:
    def intake_add(self, connection: str, event: str, now: float) -> int:
        """Keep what a connection heard (`event`: a ReviewEvent's JSON); durable on return."""
        with self._guard("record a review event"):
            return self.db.execute("INSERT INTO intake (connection, event, received_at) "
                                   "VALUES (?, ?, ?)", (connection, event, now)).lastrowid

    def intake_pending(self, after: int = 0, limit: int = 100,
                       connection: str | None = None) -> list[dict]:
        """Pending rows after row `after`, oldest first."""
        where = "state = 'pending' AND id > ?" + (" AND connection = ?" if connection else "")
        values = (after, connection) if connection else (after,)
        with self._guard("read the review events"):
            rows = self.db.execute(f"SELECT {', '.join(INTAKE_COLUMNS)} FROM intake WHERE {where} "
                                   "ORDER BY id LIMIT ?", (*values, limit)).fetchall()
        return [dict(zip(INTAKE_COLUMNS, row)) for row in rows]

    def intake_journal(self, row_id: int, event: Event | None, now: float,
                       note: str | None = None) -> int | None:
        """Journal `event` (None: nothing to journal) and mark the row done,
        in one transaction; the event's journal row, if any."""
        with self._guard("record an event"), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            seq = self._insert_event(event) if event is not None else None
            self.db.execute("UPDATE intake SET state = ?, done_at = ?, seq = ?, note = ? "
                            "WHERE id = ? AND state = 'pending'",
                            ("journaled" if event is not None else "dropped", now, seq, note,
                             row_id))
            return seq

    def intake_counts(self) -> dict[str, int]:
        """How many rows are pending, journaled and dropped."""
        with self._guard("read the review events"):
            rows = self.db.execute("SELECT state, COUNT(*) FROM intake GROUP BY state").fetchall()
        return {"pending": 0, "journaled": 0, "dropped": 0, **dict(rows)}

    def intake_prune(self, before: float) -> int:
        """Forget rows done before `before` (the journal holds what they became)."""
        with self._guard("prune the review events"):
            return self.db.execute("DELETE FROM intake WHERE state != 'pending' AND done_at < ?",
                                   (before,)).rowcount
