"""The scheduler's side of merges made by mergers (gateq/zk/remote_merges.py),
against a real ZooKeeper and real git, with results written by the test
as a merger would:

- a result whose objects were too big to send (`unsent`) is merged by the
  scheduler itself, and journaled once;
- a result whose pack lacks a commit its state names is merged here too;
- requests a predecessor left that the journal no longer asks for are
  deleted once the scheduler has resumed; one it asks for again is adopted.
"""
from __future__ import annotations

import time

from kazoo.client import KazooClient

from gate_fixture import Gate, wait_until
from gateq.config.loader import load_config
from gateq.config.model import MergeMode
from gateq.core import actions as act
from gateq.core.types import Change
from gateq.merges import Merges
from gateq.workers import Inbox
from gateq.zk.mergeboard import REQUESTS, RESULTS, MergeOutcome, encode_request, request_name
from gateq.zk.remote_merges import RemoteMerges
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Hosts


def setup(tmp_path, zk_server):
    g = Gate(tmp_path)
    Hosts(g, zk_server.hosts, 3, mergers=True)
    config = load_config(g.config)
    client = KazooClient(hosts=zk_server.hosts)
    client.start(10)
    inbox, recorded = Inbox(), []
    local = Merges(config.repo_path, inbox, recorded.append, lambda a, r: None, time.time)
    return g, config, client, inbox, recorded, local


def action_for(g: Gate, ref: str, item: int = 1) -> act.PrepareMerge:
    revision = g.change("nova", ref)
    return act.PrepareMerge(item, 0, Change("nova", f"refs/heads/{ref}", "main", revision),
                            MergeMode.MERGE, (), (("nova", "main"),))


def run_inbox_until(inbox: Inbox, done, what: str) -> None:
    def step() -> bool:
        for answer in inbox.take():
            answer()
        return done()
    wait_until(step, what, timeout=30, every=0.05)


def test_a_result_too_big_to_send_is_merged_here(tmp_path, zk_server):
    g, config, client, inbox, recorded, local = setup(tmp_path, zk_server)
    remote = RemoteMerges(config, client, local, recorded.append, time.time)
    try:
        action = action_for(g, "fix")
        remote.submit(action)
        name = request_name(action)
        assert client.exists(f"{REQUESTS}/{name}")
        client.create(f"{RESULTS}/{name}", MergeOutcome("m1:1", unsent=("nova",)).encode())
        run_inbox_until(inbox, lambda: recorded, "the merge journaled")
        [event] = recorded
        assert event.failure is None and event.item == 1 and event.base_commit == g.tip()
        merged = dict(((p, b), c) for p, b, c in event.state)[("nova", "main")]
        assert merged != g.tip()                       # a merge commit, made here
        run_inbox_until(inbox, lambda: not client.exists(f"{REQUESTS}/{name}"), "nodes gone")
        assert not client.exists(f"{RESULTS}/{name}") and remote.busy == 0
    finally:
        remote.stop(5)
        client.stop()


def test_a_result_missing_a_commit_is_merged_here(tmp_path, zk_server):
    g, config, client, inbox, recorded, local = setup(tmp_path, zk_server)
    remote = RemoteMerges(config, client, local, recorded.append, time.time)
    try:
        action = action_for(g, "fix")
        remote.submit(action)
        lie = MergeOutcome("m1:1", (("nova", "main", "1" * 40),), g.tip(), packs={"nova": b""})
        client.create(f"{RESULTS}/{request_name(action)}", lie.encode())
        run_inbox_until(inbox, lambda: recorded, "the merge journaled")
        [event] = recorded
        assert "1" * 40 not in str(event.state) and event.failure is None
    finally:
        remote.stop(5)
        client.stop()


def test_a_predecessors_requests_are_adopted_or_deleted(tmp_path, zk_server):
    g, config, client, inbox, recorded, local = setup(tmp_path, zk_server)
    wanted, stale = action_for(g, "fix", 1), action_for(g, "old", 2)
    client.ensure_path(REQUESTS)
    for a in (wanted, stale):
        client.create(f"{REQUESTS}/{request_name(a)}", encode_request(a))
    client.ensure_path(RESULTS)
    client.create(f"{RESULTS}/{request_name(stale)}", MergeOutcome("m1:1").encode())
    remote = RemoteMerges(config, client, local, recorded.append, time.time)
    try:
        remote.submit(wanted)                      # asked again after the replay: adopted
        remote.resumed()
        assert client.exists(f"{REQUESTS}/{request_name(wanted)}")
        assert not client.exists(f"{REQUESTS}/{request_name(stale)}")
        assert not client.exists(f"{RESULTS}/{request_name(stale)}")
        for answer in inbox.take():
            answer()
        assert recorded == []                      # the stale result was not journaled
    finally:
        remote.stop(5)
        client.stop()
