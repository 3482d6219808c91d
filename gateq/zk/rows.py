"""Versioned rows: one small JSON node each, updated by compare-and-swap on
the node's version (a lost race reads again and retries), as the intake
and the outbox need. A mixin of ZooKeeperStore (`zk`, `_guard`, `path`,
`_final_rows` and `_rows_lock`, shared by its for_thread views).

A row in a final state (an event journaled or dropped, a report delivered
or refused) is not written again, so it is read once and then kept in
memory until it is pruned: reading a table costs one listing and a read
per row still pending, not a read per row kept (the outbox keeps a week
of reports: 2,000 of them took about a second to read, at every look).
"""
from __future__ import annotations

import json
from typing import Callable

from kazoo.exceptions import BadVersionError, NoNodeError

from ..state.errors import StateError

ROOT = "/gateq"
FINAL = {"intake": ("journaled", "dropped"), "outbox": ("delivered", "refused")}


def row_id(name: str) -> int:
    return int(name.rpartition("-")[2]) + 1


def node_name(prefix: str, row: int) -> str:
    return f"{prefix}{row - 1:010d}"


class Rows:
    PREFIX = {"intake": "i-", "outbox": "o-"}     # the sequential nodes' names

    def _rows(self, table: str, after: int = 0) -> list[dict]:
        """Every row of `table` after id `after`, oldest first, each with its `id`."""
        found = []
        with self._guard(f"read the {table}"):
            names = sorted(self.zk.get_children(f"{ROOT}/{table}"))
            final = self._final(table, names)
            for name in names:
                if row_id(name) <= after:
                    continue
                value = final.get(name)
                if value is None:
                    try:
                        raw, _ = self.zk.get(f"{ROOT}/{table}/{name}")
                    except NoNodeError:
                        continue                         # pruned meanwhile
                    value = {"id": row_id(name), **self._row_json(table, name, raw)}
                    if value.get("state") in FINAL[table]:
                        with self._rows_lock:
                            final[name] = value
                found.append(dict(value))
        return found

    def _final(self, table: str, names: list[str]) -> dict[str, dict]:
        """The rows of `table` known final, those pruned since forgotten."""
        with self._rows_lock:
            final = self._final_rows.setdefault(table, {})
            for gone in final.keys() - set(names):
                del final[gone]
            return final

    def _row_json(self, table: str, name: str, raw: bytes) -> dict:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise StateError(f"{self.path}: {table} row {name} cannot be read ({exc})") from None
        return value

    def _update(self, table: str, prefix: str, row: int, change: Callable[[dict], bool]) -> bool:
        """Apply `change` to the row (it returns False to leave it); True if written."""
        path = f"{ROOT}/{table}/{node_name(prefix, row)}"
        self.fence()
        while True:
            with self._guard(f"update the {table}"):
                try:
                    raw, stat = self.zk.get(path)
                except NoNodeError:
                    return False
                value = json.loads(raw)
                if not change(value):
                    return False
                try:
                    self.zk.set(path, json.dumps(value).encode(), version=stat.version)
                    return True
                except BadVersionError:
                    continue                          # someone else wrote it first: read again

    def _prune(self, table: str, done: Callable[[dict], bool]) -> int:
        pruned = 0
        for row in self._rows(table):
            if done(row):
                with self._guard(f"prune the {table}"):
                    try:
                        self.zk.delete(f"{ROOT}/{table}/{node_name(self.PREFIX[table], row['id'])}")
                        pruned += 1
                    except NoNodeError:
                        pass
        return pruned
