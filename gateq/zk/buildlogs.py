"""Finished builds' logs in ZooKeeper, so that the web service of any host
shows them (`/gateq/logs/BUILD/v-0`, compressed and sharded as
checkpoints are: sharded.py). ZooKeeper keeps all its data in memory, so
what it holds is bounded twice: the last KEEP_BYTES of each log (the
scheduler's host keeps the whole file) and the newest KEEP_LOGS builds.

The scheduler writes a log once its BuildCompleted is journaled (the
build's process is gone: the file is whole); a log that cannot be written
is said in the scheduler's log and costs nothing else.
"""
from __future__ import annotations

import os

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from . import sharded

LOGS = "/gateq/logs"
KEEP_BYTES = 256 * 1024       # per log: its end, where a failure usually says why
KEEP_LOGS = 500               # builds whose log is kept (at most ~KEEP_BYTES each, compressed)
CUT = "=== the first {} bytes of this log are only on the host that ran the build ===\n"


def tail_of(path: str, keep: int = KEEP_BYTES) -> bytes | None:
    """The log's last `keep` bytes, saying so when it was cut; None: no log."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - keep)
            f.seek(start)
            data = f.read(size - start)
    except FileNotFoundError:
        return None
    return (CUT.format(start).encode() + data) if start else data


def write(client: KazooClient, build: str, data: bytes, keep_logs: int = KEEP_LOGS) -> None:
    sharded.write(client, f"{LOGS}/{build}", "v-0", data)
    prune(client, keep_logs)


def read(client: KazooClient, build: str) -> bytes | None:
    found = sharded.read_latest(client, f"{LOGS}/{build}")
    return found[1] if found else None


def prune(client: KazooClient, keep_logs: int) -> None:
    """Keep the newest `keep_logs` builds' logs (by item, then name)."""
    try:
        names = client.get_children(LOGS)
    except NoNodeError:
        return
    if len(names) <= keep_logs:
        return
    for name in sorted(names, key=age)[:len(names) - keep_logs]:
        try:
            client.delete(f"{LOGS}/{name}", recursive=True)
        except NoNodeError:
            pass


def age(build: str) -> tuple[int, int, str]:
    item, _, rest = build.partition("-")
    generation, _, job = rest.partition("-")
    return (int(item) if item.isdigit() else -1, int(generation) if generation.isdigit() else -1,
            job)
