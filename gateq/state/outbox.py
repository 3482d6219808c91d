"""The state database's `outbox` table: reports for review systems, each
delivered once by gateq/outbox.py. A mixin of SqliteStore (which owns the
connection, `db`, and `_guard`); rows are written in the transaction that
records their result, so a report is never lost nor queued twice."""
from __future__ import annotations

# state: pending | delivered | refused; attempts: started, so > 0 means "maybe sent".
OUTBOX_TABLES = {
    "outbox": "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, "
              "connection TEXT NOT NULL, target TEXT NOT NULL, report TEXT NOT NULL, "
              "state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, "
              "next_at REAL NOT NULL, created_at REAL NOT NULL, delivered_at REAL, last_error TEXT)",
    "outbox_due": "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (connection, state, next_at)",
}
OUTBOX_COLUMNS = ("id", "key", "connection", "target", "report", "state", "attempts", "next_at",
                  "created_at", "delivered_at", "last_error")


class OutboxTable:
    def add_result_with_reports(self, record: dict, reports: list[tuple[str, str, str, str]],
                                now: float) -> bool:
        """add_result and, in the same transaction, the reports it gives
        rise to as (key, connection, target, report JSON); True if new."""
        with self._guard("record a result"), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            added = self.add_result(record)
            if added:
                self._outbox_insert(reports, now)
            return added

    def outbox_add(self, reports: list[tuple[str, str, str, str]], now: float) -> int:
        """Queue reports (key, connection, target, report JSON); a key queued
        before is left as it is. Returns how many were new."""
        with self._guard("queue a report"), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            return self._outbox_insert(reports, now)

    def _outbox_insert(self, reports: list[tuple[str, str, str, str]], now: float) -> int:
        added = 0
        for key, connection, target, report in reports:
            added += self.db.execute(
                "INSERT INTO outbox (key, connection, target, report, next_at, created_at) "
                "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE key = ?)",
                (key, connection, target, report, now, now, key)).rowcount
        return added

    def outbox_next(self, connection: str, now: float) -> dict | None:
        """The pending report of `connection` due first, leaving out those
        behind an earlier undelivered report on the same target (in order)."""
        with self._guard("read the outbox"):
            row = self.db.execute(
                f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox o WHERE connection = ? AND "
                "state = 'pending' AND next_at <= ? AND NOT EXISTS (SELECT 1 FROM outbox p WHERE "
                "p.connection = o.connection AND p.state = 'pending' AND p.target = o.target AND "
                "p.id < o.id) ORDER BY next_at, id LIMIT 1", (connection, now)).fetchone()
        return dict(zip(OUTBOX_COLUMNS, row)) if row else None

    def outbox_due_at(self, connection: str) -> float | None:
        """When the next pending report of `connection` is due, if any."""
        with self._guard("read the outbox"):
            return self.db.execute("SELECT MIN(next_at) FROM outbox WHERE connection = ? AND "
                                   "state = 'pending'", (connection,)).fetchone()[0]

    def outbox_attempt(self, row_id: int) -> None:
        """An attempt starts: from now on the report may have been delivered."""
        self._outbox_update("attempts = attempts + 1", (), row_id)

    def outbox_delivered(self, row_id: int, now: float) -> None:
        self._outbox_update("state = 'delivered', delivered_at = ?, last_error = NULL",
                            (now,), row_id)

    def outbox_retry(self, row_id: int, next_at: float, error: str) -> None:
        self._outbox_update("next_at = ?, last_error = ?", (next_at, error), row_id)

    def outbox_refused(self, row_id: int, now: float, error: str) -> None:
        self._outbox_update("state = 'refused', delivered_at = ?, last_error = ?", (now, error),
                            row_id)

    def _outbox_update(self, assignments: str, values: tuple, row_id: int) -> None:
        with self._guard("update the outbox"):
            self.db.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*values, row_id))

    def outbox_rows(self, state: str | None = None) -> list[dict]:
        with self._guard("read the outbox"):
            rows = self.db.execute(f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox"
                                   + (" WHERE state = ?" if state else "") + " ORDER BY id",
                                   (state,) if state else ()).fetchall()
        return [dict(zip(OUTBOX_COLUMNS, row)) for row in rows]

    def outbox_stats(self) -> dict[str, dict]:
        """Per connection: pending, failing (pending after a failed attempt),
        refused and delivered counts, the oldest pending report's creation
        time, and the last error of a pending report."""
        with self._guard("read the outbox"):
            rows = self.db.execute(
                "SELECT connection, SUM(state = 'pending'), SUM(state = 'pending' AND attempts > 0), "
                "SUM(state = 'refused'), SUM(state = 'delivered'), "
                "MIN(CASE WHEN state = 'pending' THEN created_at END), "
                "(SELECT last_error FROM outbox e WHERE e.connection = o.connection AND "
                "e.state = 'pending' AND e.last_error IS NOT NULL ORDER BY e.id DESC LIMIT 1) "
                "FROM outbox o GROUP BY connection ORDER BY connection").fetchall()
        keys = ("pending", "failing", "refused", "delivered", "oldest_pending_at", "last_error")
        return {row[0]: dict(zip(keys, row[1:])) for row in rows}

    def outbox_prune(self, before: float) -> int:
        """Forget reports delivered or refused before `before`."""
        with self._guard("prune the outbox"):
            return self.db.execute("DELETE FROM outbox WHERE state != 'pending' AND "
                                   "delivered_at < ?", (before,)).rowcount
