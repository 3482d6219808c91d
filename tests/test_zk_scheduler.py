"""Two `gateq scheduler` processes on one real ZooKeeper: one is active,
the other stands by. SIGKILL the active one mid-run: the standby takes
over from the journal and every change lands once, in queue order. SIGSTOP
the active one past its session timeout and SIGCONT it: it must land and
publish nothing more, and the standby finishes the queue."""
from __future__ import annotations

import os
import signal

from gate_fixture import Gate, wait_until
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Process as Scheduler
from zk_processes import add_zookeeper, host_config

SESSION = 3        # seconds: zookeeper.session-timeout of both schedulers
CHANGES = ["fix-1", "fix-2", "fix-3", "fix-4"]


def two_configs(tmp_path, hosts: str) -> tuple[Gate, str]:
    """The gate's configuration, and a second one for another 'host'."""
    g = Gate(tmp_path, window=3)
    add_zookeeper(g, hosts, SESSION)
    return g, host_config(g, "b")


def queue_changes(g: Gate, first: int) -> None:
    """Each change's build takes longer than the one ahead, so the queue
    lands one change at a time, the first after `first` seconds."""
    for n, ref in enumerate(CHANGES):
        g.change("nova", ref, {"SLEEP": str(first + 2 * n)})
        g.approve("nova", ref)


def start_pair(g: Gate, other: str, tmp_path) -> tuple[Scheduler, Scheduler]:
    first = Scheduler(g.config, str(tmp_path / "a.log"))
    wait_until(lambda: first.says("scheduler active"), "the first scheduler to be active")
    second = Scheduler(other, str(tmp_path / "b.log"))
    wait_until(lambda: second.says("standing by"), "the second scheduler to stand by")
    return first, second


def test_sigkill_of_the_active_scheduler(zk_server, tmp_path):
    g, other = two_configs(tmp_path, zk_server.hosts)
    queue_changes(g, 1)
    a, b = start_pair(g, other, tmp_path)
    try:
        wait_until(lambda: len(g.landed()) >= 1, "a first landing by the active scheduler")
        assert not b.says("scheduler active")
        a.process.kill()
        wait_until(lambda: b.says("scheduler active"), "the standby to take over", timeout=60)
        wait_until(lambda: len(g.landed()) == len(CHANGES), "every change to land", timeout=120)
        wait_until(lambda: len(g.results()) == len(CHANGES), "every result (after its landing)")
        assert g.landed() == CHANGES                      # each once, in queue order
        assert g.outcome() == {ref: "merged" for ref in CHANGES}
        assert [r["change"] for r in g.results()] == CHANGES
    finally:
        a.stop()
        b.stop()


def test_sigstop_past_the_session_timeout_lands_nothing_after(zk_server, tmp_path):
    g, other = two_configs(tmp_path, zk_server.hosts)
    queue_changes(g, 2)
    a, b = start_pair(g, other, tmp_path)
    try:
        wait_until(lambda: os.listdir(g.seen), "the active scheduler's first build")
        a.process.send_signal(signal.SIGSTOP)
        landed_before = g.landed()
        wait_until(lambda: b.says("scheduler active"), "the standby to take over", timeout=60)
        a.process.send_signal(signal.SIGCONT)
        resumed_at = len(a.text())
        wait_until(lambda: a.says("lost its term"), "the resumed scheduler to stop acting",
                   timeout=60)
        wait_until(lambda: len(g.landed()) == len(CHANGES), "every change to land", timeout=120)
        wait_until(lambda: len(g.results()) == len(CHANGES), "every result (after its landing)")
        after = a.text()[resumed_at:]
        assert " landed " not in after, after
        assert "scheduler active" not in after.split("lost its term")[0], after
        assert g.landed() == CHANGES and landed_before == g.landed()[:len(landed_before)]
        assert [r["change"] for r in g.results()] == CHANGES
    finally:
        a.stop()
        b.stop()
