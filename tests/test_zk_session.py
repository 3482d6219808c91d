"""A term ends with its ZooKeeper session: once the session has expired
(ZooKeeper ended it, as it does for a scheduler stopped past its timeout),
the store writes nothing and a landing is not carried out, however soon
after the expiry the scheduler tries. Real ZooKeeper; the session is
expired the way ZooKeeper does it, by another client taking it over and
closing it."""
from __future__ import annotations

import pytest
from kazoo.client import KazooClient

from gate_fixture import wait_until
from gateq.config.model import ZooKeeperSettings
from gateq.core.events import DequeueRequested
from gateq.landing import Outcome
from gateq.zk.client import connect
from gateq.zk.scheduler import ELECTION, guard_landing
from gateq.zk.session import SessionLost, SessionWatch
from gateq.zk.store import ROOT, ZooKeeperStore
from zk_fixture import zk_server  # noqa: F401  (the fixture)


def expire(client: KazooClient, hosts: str) -> None:
    session, password = client.client_id
    thief = KazooClient(hosts=hosts, client_id=(session, password))
    thief.start(10)
    thief.stop()                   # closing the session ends it for its first owner too
    thief.close()


class Landing:
    """Stands in for the engine's Landing: records what it was asked to land."""

    def __init__(self):
        self.carried = []

    def carry_out(self, action):
        self.carried.append(action)


class EngineStandIn:
    def __init__(self):
        self.landing = Landing()


def test_after_expiry_nothing_is_written_nor_landed(zk_server, tmp_path):
    settings = ZooKeeperSettings(zk_server.hosts, 3.0)
    client = connect(settings)
    try:
        store = ZooKeeperStore(settings, str(tmp_path / "state"), client=client)
        watch = SessionWatch(client, store.path)
        lock = client.Lock(ELECTION, "me")
        assert lock.acquire(timeout=10)
        watch.begin(f"{ELECTION}/{lock.node}")
        store.fence = watch.check
        engine = EngineStandIn()
        guard_landing(engine, watch)
        event = DequeueRequested(at=1.0, pipeline="gate", project="nova", ref="fix-1")
        store.append(event)
        assert engine.landing.carry_out("land fix-1") is None          # carried out
        expire(client, zk_server.hosts)
        with pytest.raises(SessionLost):
            store.append(event)
        landed = engine.landing.carry_out("land fix-2")
        assert landed.outcome is Outcome.RETRY and "session" in landed.reason
        assert engine.landing.carried == ["land fix-1"]
        other = connect(settings)
        try:
            wait_until(lambda: not other.get_children(ELECTION), "the lock to go with the session")
            assert len(other.get_children(f"{ROOT}/journal")) == 1
        finally:
            other.stop()
            other.close()
    finally:
        client.stop()
        client.close()
