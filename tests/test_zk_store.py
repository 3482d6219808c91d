"""The ZooKeeper store keeps what the SQLite store keeps, behind the same
methods: one contract, run against both (the SQLite one pins the contract),
and what only ZooKeeper needs (sharded checkpoints, a bounded journal, one
line when it cannot be reached). Real ZooKeeper (zk_fixture.py)."""
from __future__ import annotations

import json
import random
import socket

import pytest

from gateq.config.model import ZooKeeperSettings
from gateq.core.events import DequeueRequested
from gateq.state import NoState, StateError, open_store
from gateq.zk.store import ROOT
from zk_fixture import zk_server  # noqa: F401  (the fixture)


def event(n: int) -> DequeueRequested:
    return DequeueRequested(at=float(n), pipeline="gate", project="nova", ref=f"fix-{n}")


@pytest.fixture(params=["sqlite", "zookeeper"])
def opener(request, tmp_path):
    """open(create=True) -> a store; both kinds, on a fresh state."""
    settings = None
    if request.param == "zookeeper":
        server = request.getfixturevalue("zk_server")
        settings = ZooKeeperSettings(server.hosts, 5.0)
    opened = []

    def open_(create: bool = True):
        store = open_store(str(tmp_path / "state"), create, zookeeper=settings)
        opened.append(store)
        return store
    yield open_
    for store in opened:
        store.close()


def test_nothing_recorded_yet_is_no_state(opener):
    with pytest.raises(NoState, match="no gate has recorded anything here yet"):
        opener(create=False)


def test_journal_checkpoint_and_replay_point(opener):
    store = opener()
    rows = [store.append(event(n)) for n in range(5)]
    assert rows == sorted(rows) and len(set(rows)) == 5 and rows[0] >= 1
    assert [e.ref for _, e in store.events_after(0)] == [f"fix-{n}" for n in range(5)]
    assert [s for s, _ in store.events_after(rows[1], limit=2)] == rows[2:4]
    store.checkpoint(rows[2], {"queue": ["a"]})
    reader = opener(create=False)             # another process: sees the same
    assert reader.last_checkpoint() == (rows[2], {"queue": ["a"]})
    assert [e.ref for _, e in reader.events_after(rows[2])] == ["fix-3", "fix-4"]
    assert reader.pending_count(rows[2]) == 2 and reader.last_seq() == rows[4]


def test_results_once_and_status(opener):
    store = opener()
    assert store.read_status() is None and store.results() == []
    assert store.add_result({"item": 1, "change": "fix-1"})
    assert not store.add_result({"item": 1, "change": "again"})
    assert store.add_result_with_reports({"item": 2, "change": "fix-2"},
                                         [("k1", "gerrit", "1,1", "{}")], 10.0)
    assert not store.add_result_with_reports({"item": 2}, [("k2", "gerrit", "1,1", "{}")], 10.0)
    assert [r["change"] for r in opener(create=False).results()] == ["fix-1", "fix-2"]
    assert [r["key"] for r in store.outbox_rows()] == ["k1"]
    store.write_status({"pipelines": [], "cursor": 3})
    store.write_status({"pipelines": [{"name": "gate"}], "cursor": 4})
    assert opener(create=False).read_status() == {"pipelines": [{"name": "gate"}], "cursor": 4}


def test_intake_rows_are_journaled_once(opener):
    store = opener()
    first = store.intake_add("gerrit", '{"kind": "a"}', 1.0)
    second = store.intake_add("gerrit", '{"kind": "b"}', 2.0)
    store.intake_add("other", '{"kind": "c"}', 3.0)
    assert [r["event"] for r in store.intake_pending(connection="gerrit")] == \
        ['{"kind": "a"}', '{"kind": "b"}']
    seq = store.intake_journal(first, event(1), 5.0)
    assert seq == store.last_seq() and [e.ref for _, e in store.events_after(0)] == ["fix-1"]
    assert store.intake_journal(second, None, 5.0, "gone") is None
    [left] = store.intake_pending(after=first)
    assert left["connection"] == "other" and left["id"] > second
    assert store.intake_counts() == {"pending": 1, "journaled": 1, "dropped": 1}
    assert store.intake_prune(before=6.0) == 2 and store.intake_counts()["pending"] == 1


def test_outbox_order_per_target_and_states(opener):
    store = opener()
    assert store.outbox_add([("a", "g", "t1", "r1"), ("b", "g", "t1", "r2"),
                             ("c", "g", "t2", "r3"), ("a", "g", "t1", "again")], 1.0) == 3
    assert store.outbox_add([("a", "g", "t1", "r1")], 1.0) == 0
    first = store.outbox_next("g", 2.0)
    assert first["report"] == "r1"
    store.outbox_attempt(first["id"])
    store.outbox_retry(first["id"], 9.0, "down")
    assert store.outbox_next("g", 2.0)["report"] == "r3"      # t1 waits behind r1, in order
    assert store.outbox_due_at("g") == 1.0
    stats = store.outbox_stats()["g"]
    assert (stats["pending"], stats["failing"], stats["last_error"]) == (3, 1, "down")
    store.outbox_delivered(first["id"], 10.0)
    assert store.outbox_next("g", 10.0)["report"] == "r2"
    assert store.outbox_prune(before=11.0) == 1
    assert [r["key"] for r in store.outbox_rows()] == ["b", "c"]


# -- what only ZooKeeper needs ----------------------------------------------

def zk_store(server, tmp_path):
    return open_store(str(tmp_path / "state"), zookeeper=ZooKeeperSettings(server.hosts, 5.0))


def test_checkpoint_past_one_megabyte_is_sharded_and_journal_is_pruned(zk_server, tmp_path):
    store = zk_store(zk_server, tmp_path)
    try:
        rows = [store.append(event(n)) for n in range(30)]
        noise = random.Random(1).randbytes(3 * 1024 * 1024).hex()    # ~6 MB, incompressible-ish
        store.checkpoint(rows[19], {"big": noise})
        shards = store.zk.get_children(f"{ROOT}/checkpoints/c-{rows[19]:012d}")
        assert len(shards) > 2
        assert store.last_checkpoint() == (rows[19], {"big": noise})
        assert len(store.zk.get_children(f"{ROOT}/journal")) == 10     # the rest was cut
        store.checkpoint(rows[29], {"small": 1})
        assert store.zk.get_children(f"{ROOT}/checkpoints") == [f"c-{rows[29]:012d}"]
        assert store.zk.get_children(f"{ROOT}/journal") == []
    finally:
        store.close()


def test_a_checkpoint_cut_short_is_not_read(zk_server, tmp_path):
    """A writer killed between its shards and its header: the reader keeps
    the previous whole checkpoint."""
    store = zk_store(zk_server, tmp_path)
    try:
        row = store.append(event(1))
        store.checkpoint(row, {"whole": True})
        store.zk.create(f"{ROOT}/checkpoints/c-{row + 5:012d}", b"")
        store.zk.create(f"{ROOT}/checkpoints/c-{row + 5:012d}/s-0000", b"half")
        assert store.last_checkpoint() == (row, {"whole": True})
    finally:
        store.close()


def test_unreachable_zookeeper_is_one_line_naming_the_hosts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]              # nothing listens there once closed
    settings = ZooKeeperSettings(f"127.0.0.1:{port}", 1.0)
    with pytest.raises(StateError) as caught:
        open_store(str(tmp_path / "state"), zookeeper=settings)
    message = str(caught.value)
    assert message.startswith(f"zookeeper 127.0.0.1:{port}: cannot connect") and "\n" not in message


def test_records_are_small_json_nodes(zk_server, tmp_path):
    store = zk_store(zk_server, tmp_path)
    try:
        store.append(event(1))
        store.add_result({"item": 7, "change": "fix-7"})
        [name] = store.zk.get_children(f"{ROOT}/journal")
        raw, stat = store.zk.get(f"{ROOT}/journal/{name}")
        assert stat.data_length < 1024 and json.loads(raw)
    finally:
        store.close()
