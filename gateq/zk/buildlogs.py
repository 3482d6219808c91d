"""Finished builds' logs in ZooKeeper, so that the web service of any host
shows them (`/gateq/logs/BUILD/v-0`, compressed and sharded as
checkpoints are: sharded.py). ZooKeeper keeps all its data in memory, so
what it holds is bounded twice: the last KEEP_BYTES of each log (the
scheduler's host keeps the whole file) and the newest KEEP_LOGS builds.

The scheduler hands a log to its Keeper once its BuildCompleted is
journaled (the build's process is gone: the file is whole); the Keeper's
thread writes it (10-30 ms against a local ensemble with fsync, off the
engine's loop). A log that cannot be written is said in the scheduler's
log and costs nothing else: the log stays whole on its host.
"""
from __future__ import annotations

import logging
import os
import queue
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from . import sharded

LOGS = "/gateq/logs"
KEEP_BYTES = 256 * 1024       # per log: its end, where a failure usually says why
KEEP_LOGS = 500               # builds whose log is kept (at most ~KEEP_BYTES each, compressed)
CUT = "=== the first {} bytes of this log are only on the host that ran the build ===\n"

log = logging.getLogger("gateq.engine")


class Keeper:
    """A thread writing the logs handed to it, in order; it ends once idle
    for IDLE seconds (a store a lost term left behind keeps none running)
    and starts again with the next log. `close` waits a little for those
    still queued, then leaves them (they are copies)."""

    IDLE = 30.0

    def __init__(self, client: KazooClient, place: str) -> None:
        self.client, self.place = client, place
        self.queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def keep(self, build: str, path: str) -> None:
        with self._lock:
            self.queue.put((build, path))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, daemon=True,
                                               name="gateq-keep-logs")
                self.thread.start()

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread = self.thread
            if thread is not None and thread.is_alive():
                self.queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                job = self.queue.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:
                    if self.queue.empty():
                        self.thread = None
                        return
                continue
            if job is None:
                return
            self._write(*job)

    def _write(self, build: str, path: str) -> None:
        data = tail_of(path)
        if data is None:
            return
        try:
            write(self.client, build, data)
        except (KazooException, ValueError) as exc:
            log.warning("%s: the log of build %s is only on this host: %s", self.place, build,
                        type(exc).__name__)


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
