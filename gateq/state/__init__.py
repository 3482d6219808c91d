"""Where the gate's truth lives: the journal, checkpoints, results, status.

`open_store` gives the store a configuration asks for: the SQLite state
directory, or ZooKeeper when gateq.yaml has `zookeeper:` (gateq/zk, whose
store has the same methods); every failure reading or writing it is a
StateError, one line naming the file (or the ensemble) and what to do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import DiskFull, NoState, StateError
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from ..config.model import ZooKeeperSettings

__all__ = ["DiskFull", "NoState", "SqliteStore", "StateError", "open_store"]


def open_store(state_dir: str, create: bool = True, zookeeper: ZooKeeperSettings | None = None):
    """The store of `state_dir`, or of `zookeeper` when set (kazoo is then
    imported, not before); with create=False, NoState if none exists yet."""
    if zookeeper is not None:
        from ..zk.store import ZooKeeperStore
        return ZooKeeperStore(zookeeper, state_dir, create)
    return SqliteStore(state_dir, create)
