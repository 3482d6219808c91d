"""Versioned rows: one small JSON node each, updated by compare-and-swap on
the node's version (a lost race reads again and retries), as the intake
and the outbox need. A mixin of ZooKeeperStore (`zk`, `_guard`, `path`)."""
from __future__ import annotations

import json
from typing import Callable

from kazoo.exceptions import BadVersionError, NoNodeError

from ..state.errors import StateError

ROOT = "/gateq"


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
            for name in names:
                if row_id(name) <= after:
                    continue
                try:
                    raw, _ = self.zk.get(f"{ROOT}/{table}/{name}")
                except NoNodeError:
                    continue                         # pruned meanwhile
                found.append({"id": row_id(name), **self._row_json(table, name, raw)})
        return found

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
