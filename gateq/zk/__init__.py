"""gateq on ZooKeeper (kazoo): the shared state of a gate whose schedulers
run on several hosts (docs/scale-out.md).

`ZooKeeperStore` keeps what the SQLite state directory keeps (journal,
checkpoints, results, status, intake, outbox) behind the same methods, so the
engine, the CLI and replay use either; `gateq scheduler` (scheduler.py) runs
the engine while it holds the gate's election, and only while its session
is certain.
"""
from .store import ZooKeeperStore

__all__ = ["ZooKeeperStore"]
