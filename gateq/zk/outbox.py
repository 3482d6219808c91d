"""The outbox in ZooKeeper: reports for review systems, one row per node
(`outbox/o-N`), each key once (`outbox-keys/SHA1`, made in the same
transaction as its row, and as the result that gives rise to it), as
state/outbox.py does in SQLite. A mixin of ZooKeeperStore."""
from __future__ import annotations

import hashlib
import json

from kazoo.exceptions import NodeExistsError

from ..state.errors import StateError
from .rows import ROOT, Rows

PREFIX = "o-"


def key_node(key: str) -> str:
    return f"{ROOT}/outbox-keys/{hashlib.sha1(key.encode()).hexdigest()}"


class ZkOutbox(Rows):
    def add_result_with_reports(self, record: dict, reports: list[tuple[str, str, str, str]],
                                now: float) -> bool:
        """The result and its new reports in one transaction; True if the result is new."""
        with self._guard("record a result"):
            if self.zk.exists(f"{ROOT}/results/items/{int(record['item'])}"):
                return False
            return self._commit(reports, now, record) is not None

    def outbox_add(self, reports: list[tuple[str, str, str, str]], now: float) -> int:
        with self._guard("queue a report"):
            return self._commit(reports, now) or 0

    def _commit(self, reports, now: float, record: dict | None = None) -> int | None:
        """Queue the reports whose key is new (and the result); how many, or
        None when the result was recorded meanwhile. A key queued by someone
        else meanwhile fails the transaction: read the keys again and retry."""
        self.fence()
        while True:
            firsts = {r[0]: r for r in reversed(reports)}          # a key twice: the first
            new = [r for r in reports if firsts[r[0]] is r and not self.zk.exists(key_node(r[0]))]
            batch = self.zk.transaction()
            if record is not None:
                self._result_ops(batch, record)
            for key, connection, target, report in new:
                batch.create(key_node(key), b"")
                row = {"key": key, "connection": connection, "target": target, "report": report,
                       "state": "pending", "attempts": 0, "next_at": now, "created_at": now,
                       "delivered_at": None, "last_error": None}
                batch.create(f"{ROOT}/outbox/{PREFIX}", json.dumps(row).encode(), sequence=True)
            if not new and record is None:
                return 0
            results = batch.commit()
            failed = [r for r in results if isinstance(r, Exception)]
            if not failed:
                return len(new)
            if record is not None and isinstance(results[0], NodeExistsError):
                return None
            if not any(isinstance(r, NodeExistsError) for r in results):
                raise StateError(f"{self.path}: cannot queue a report: {failed[0]!r}")

    def outbox_next(self, connection: str, now: float) -> dict | None:
        """The pending report due first, leaving out those behind an earlier
        undelivered one on the same target."""
        pending = [r for r in self.outbox_rows("pending") if r["connection"] == connection]
        first = {}
        for row in pending:
            first.setdefault(row["target"], row)
        due = [r for r in first.values() if r["next_at"] <= now]
        return min(due, key=lambda r: (r["next_at"], r["id"])) if due else None

    def outbox_due_at(self, connection: str) -> float | None:
        return min((r["next_at"] for r in self.outbox_rows("pending")
                    if r["connection"] == connection), default=None)

    def outbox_attempt(self, row_id: int) -> None:
        self._outbox_set(row_id, lambda r: r.update(attempts=r["attempts"] + 1))

    def outbox_delivered(self, row_id: int, now: float) -> None:
        self._outbox_set(row_id, lambda r: r.update(state="delivered", delivered_at=now,
                                                    last_error=None))

    def outbox_retry(self, row_id: int, next_at: float, error: str) -> None:
        self._outbox_set(row_id, lambda r: r.update(next_at=next_at, last_error=error))

    def outbox_refused(self, row_id: int, now: float, error: str) -> None:
        self._outbox_set(row_id, lambda r: r.update(state="refused", delivered_at=now,
                                                    last_error=error))

    def _outbox_set(self, row_id: int, change) -> None:
        self._update("outbox", PREFIX, row_id, lambda row: change(row) or True)

    def outbox_rows(self, state: str | None = None) -> list[dict]:
        return [r for r in self._rows("outbox") if state is None or r["state"] == state]

    def outbox_stats(self) -> dict[str, dict]:
        stats: dict[str, dict] = {}
        for row in self.outbox_rows():
            s = stats.setdefault(row["connection"], {"pending": 0, "failing": 0, "refused": 0,
                                                     "delivered": 0, "oldest_pending_at": None,
                                                     "last_error": None})
            s[row["state"]] += 1
            if row["state"] == "pending":
                s["failing"] += row["attempts"] > 0
                s["oldest_pending_at"] = min(filter(None, (s["oldest_pending_at"],
                                                           row["created_at"])))
                s["last_error"] = row["last_error"] or s["last_error"]
        return dict(sorted(stats.items()))

    def outbox_prune(self, before: float) -> int:
        """Forget reports delivered or refused before `before`, with their keys."""
        done = [r for r in self.outbox_rows() if r["state"] != "pending" and r["delivered_at"] < before]
        with self._guard("prune the outbox"):
            for row in done:
                batch = self.zk.transaction()
                batch.delete(f"{ROOT}/outbox/{PREFIX}{row['id'] - 1:010d}")
                batch.delete(key_node(row["key"]))
                batch.commit()
        return len(done)
