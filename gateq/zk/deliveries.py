"""Webhook deliveries already taken, in ZooKeeper, as deliveries.py keeps
them in SQLite: with `zookeeper:`, `gateq web` may run on several hosts
behind one address, and the forge's redelivery of a delivery one host took
must be refused by every other one too.

A claim is one transaction making `forge-deliveries/NAME/XX/SHA1` (XX its
first two hex digits: no node has more than a few thousand children)
and `forge-days/NAME/DAY/SHA1` (the day it was claimed), so a second
copy fails the create wherever it arrives. Whole days older than
KEEP_DAYS are dropped, with the claims they list, without reading any
claim's node.
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable

from kazoo.exceptions import NodeExistsError, NoNodeError

from ..drivers.forge.deliveries import KEEP_SECONDS, PRUNE_EVERY
from ..state.errors import StateError
from .client import guard
from .store import ROOT, ZooKeeperStore

DAY = 86400


class ZkDeliveryLog:
    def __init__(self, store: Callable[[], ZooKeeperStore], connection: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.connection, self.clock = store, connection, clock
        self.claims = 0
        self._made: set[str] = set()
        self._lock = threading.Lock()

    def _paths(self, delivery: str) -> tuple[str, str]:
        digest = hashlib.sha1(delivery.encode()).hexdigest()
        day = int(self.clock() // DAY)
        return (f"{ROOT}/forge-deliveries/{self.connection}/{digest[:2]}/{digest}",
                f"{ROOT}/forge-days/{self.connection}/{day:06d}/{digest}")

    def _ensure(self, zk, *parents: str) -> None:
        for parent in parents:
            if parent not in self._made:
                zk.ensure_path(parent)
                with self._lock:
                    self._made.add(parent)

    def claim(self, delivery: str) -> bool:
        """True if `delivery` was not seen before (it is now); False for a replay."""
        store = self.store()
        claim, dated = self._paths(delivery)
        with guard(store.path, "claim a webhook delivery"):
            self._ensure(store.zk, claim.rpartition("/")[0], dated.rpartition("/")[0])
            batch = store.zk.transaction()
            batch.create(claim, b"")
            batch.create(dated, b"")
            results = batch.commit()
            self.claims += 1
            if self.claims % PRUNE_EVERY == 0:
                self.prune(store)
            if isinstance(results[0], NodeExistsError):
                return False
            if isinstance(results[1], NodeExistsError):    # released, then sent again today
                try:
                    store.zk.create(claim, b"")
                except NodeExistsError:
                    return False
                return True
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise StateError(f"{store.path}: cannot claim a webhook delivery: {failed[0]!r}")
        return True

    def release(self, delivery: str) -> None:
        store = self.store()
        claim, _ = self._paths(delivery)
        with guard(store.path, "release a webhook delivery"):
            try:
                store.zk.delete(claim)
            except NoNodeError:
                pass

    def seen(self, delivery: str) -> bool:
        store = self.store()
        with guard(store.path, "read the webhook deliveries"):
            return store.zk.exists(self._paths(delivery)[0]) is not None

    def prune(self, store: ZooKeeperStore) -> None:
        """Drop the days older than KEEP_SECONDS and the claims they list."""
        days = f"{ROOT}/forge-days/{self.connection}"
        oldest = int((self.clock() - KEEP_SECONDS) // DAY)
        for name in store.zk.get_children(days):
            if int(name) >= oldest:
                continue
            for digest in store.zk.get_children(f"{days}/{name}"):
                for path in (f"{ROOT}/forge-deliveries/{self.connection}/{digest[:2]}/{digest}",
                             f"{days}/{name}/{digest}"):
                    try:
                        store.zk.delete(path)
                    except NoNodeError:
                        pass
            store.zk.delete(f"{days}/{name}", recursive=True)
