"""The intake in ZooKeeper: what the connections and hook scripts heard,
one row per node (`intake/i-N`), journaled by the engine in one
transaction with the row's compare-and-swap, as state/intake.py does in
SQLite. A mixin of ZooKeeperStore."""
from __future__ import annotations

import json

from kazoo.exceptions import BadVersionError, NoNodeError

from ..core.events import Event
from ..state.errors import StateError
from .rows import ROOT, Rows, node_name, row_id

PREFIX = "i-"


class ZkIntake(Rows):
    def intake_add(self, connection: str, event: str, now: float) -> int:
        row = {"connection": connection, "event": event, "state": "pending",
               "received_at": now, "done_at": None, "seq": None, "note": None}
        with self._guard("record a review event"):
            return row_id(self.zk.create(f"{ROOT}/intake/{PREFIX}", json.dumps(row).encode(),
                                         sequence=True))

    def intake_pending(self, after: int = 0, limit: int = 100,
                       connection: str | None = None) -> list[dict]:
        rows = [r for r in self._rows("intake", after) if r["state"] == "pending"
                and (connection is None or r["connection"] == connection)]
        return rows[:limit]

    def intake_journal(self, row_id_: int, event: Event | None, now: float,
                       note: str | None = None) -> int | None:
        """Journal `event` and mark the row done in one transaction, the row
        written at the version read (retried if someone wrote it meanwhile);
        the event's journal row, if any. (The row does not keep that journal
        row: it is known only once the transaction has made the node.)"""
        path = f"{ROOT}/intake/{node_name(PREFIX, row_id_)}"
        self.fence()
        while True:
            with self._guard("record an event"):
                try:
                    raw, stat = self.zk.get(path)
                except NoNodeError:
                    return None
                row = json.loads(raw)
                if row["state"] != "pending":
                    return None                     # journaled before: not twice
                row.update(state="journaled" if event is not None else "dropped", done_at=now,
                           note=note)
                batch = self.zk.transaction()
                batch.set_data(path, json.dumps(row).encode(), stat.version)
                if event is not None:
                    batch.create(*self._event_node(event), sequence=True)
                results = batch.commit()
            if isinstance(results[0], BadVersionError):
                continue
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise StateError(f"{self.path}: cannot record an event: {failed[0]!r}")
            return row_id(results[1]) if event is not None else None

    def intake_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "journaled": 0, "dropped": 0}
        for row in self._rows("intake"):
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return counts

    def intake_prune(self, before: float) -> int:
        return self._prune("intake", lambda r: r["state"] != "pending" and r["done_at"] < before)
