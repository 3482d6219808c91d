"""Merges made by `gateq merger` processes (zookeeper.mergers: true), each
on a 'host' of its own (its own state directory and repositories, filled
from the active scheduler's git daemon), against a real ZooKeeper:

- the mergers make every merge, the scheduler makes none, and the gate
  lands what it would land with its own merges: in queue order, a conflict
  with a change that fails is not final (Zuul's semantics), one with a
  change that lands is;
- a merger killed (SIGKILL) in the middle of a merge, while it fetches
  what the merge needs: its claim goes with its session, the other merger
  makes the merge, and the change lands once;
- a scheduler whose gateq.yaml asks for mergers, with none running, says
  so; `gateq merger` without `mergers: true` is refused in one line;
- `gateq status` names the schedulers, executors and mergers and their load.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from gate_fixture import Gate, wait_until
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import ROOT, Hosts, Process, git_daemon_of

SESSION = 3


@pytest.fixture
def gate(tmp_path, zk_server):
    g = Gate(tmp_path, projects=("nova", "glance"), window=5, slots=2)
    hosts = Hosts(g, zk_server.hosts, SESSION, mergers=True)
    g.start = hosts.start
    yield g
    hosts.stop()


def merged_by(process: Process) -> int:
    return process.text().count(" merged\n")


def test_mergers_make_every_merge_and_the_gate_lands_as_it_would(gate):
    g = gate
    g.change("nova", "fix-1")
    g.change("glance", "bad-2", {"FAIL": "x", "same.txt": "bad\n"})
    g.change("glance", "fix-3", {"same.txt": "good\n"})     # conflicts with bad-2 only
    g.change("nova", "fix-4", {"shared.txt": "one\n"})
    g.change("nova", "clash-5", {"shared.txt": "two\n"})    # conflicts with fix-4, which lands
    scheduler = g.start("scheduler", "a")
    wait_until(lambda: scheduler.says("scheduler active"), "the scheduler to be active")
    m1, m2 = g.start("merger", "m1"), g.start("merger", "m2")
    executor = g.start("executor", "e1", "--slots", "2")
    for project, ref in (("nova", "fix-1"), ("glance", "bad-2"), ("glance", "fix-3"),
                         ("nova", "fix-4"), ("nova", "clash-5")):
        g.approve(project, ref)
    wait_until(lambda: len(g.results()) == 5, "every result", timeout=120)
    assert g.outcome() == {"fix-1": "merged", "bad-2": "failed", "fix-3": "merged",
                           "fix-4": "merged", "clash-5": "merge-conflict"}
    assert g.landed("nova") == ["fix-1", "fix-4"] and g.landed("glance") == ["fix-3"]
    assert merged_by(m1) + merged_by(m2) >= 4        # every item's merge, resets included
    for process in (scheduler, m1, m2, executor):
        assert not process.says("Traceback"), process.text()[-3000:]
    assert not scheduler.says("merging it here")     # every result came whole
    # `gateq status` on any host names the processes serving the gate.
    shown = subprocess.run([sys.executable, "-m", "gateq.cli", "-c", g.config, "status"],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": ROOT}).stdout.splitlines()
    pid = {p.process.pid for p in (m1, m2)}
    mergers = next(line for line in shown if line.startswith("mergers: "))
    assert all(f":{n} (0/2 busy)" in mergers for n in pid), shown
    assert f":{executor.process.pid} (0/2 busy)" in next(
        line for line in shown if line.startswith("executors: "))
    assert next(line for line in shown if line.startswith("schedulers: ")).endswith(
        f":{scheduler.process.pid} (active)")
    assert os.path.isdir(os.path.join(g.root, "config-m1", "state", "merger-git")) or \
        os.path.isdir(os.path.join(g.root, "config-m2", "state", "merger-git"))


def test_a_merger_killed_mid_merge_is_replaced(gate):
    g = gate
    scheduler = g.start("scheduler", "a")
    wait_until(lambda: scheduler.says("scheduler active"), "the scheduler to be active")
    executor = g.start("executor", "e1")
    first = g.start("merger", "m1")
    wait_until(lambda: first.says("taking merges"), "the first merger to start")
    daemon = git_daemon_of(scheduler)
    os.kill(daemon, signal.SIGSTOP)                  # the merge's fetch waits on it
    try:
        g.change("nova", "fix")
        g.approve("nova", "fix")
        wait_until(lambda: first.says("took merge"), "the first merger to take the merge")
        first.process.kill()                         # mid-merge: its claim is left to expire
        first.process.wait()
    finally:
        os.kill(daemon, signal.SIGCONT)
    second = g.start("merger", "m2")
    wait_until(lambda: g.outcome().get("fix") == "merged", "the change to land",
               timeout=SESSION * 4 + 60)
    assert g.landed() == ["fix"]
    assert not first.says(" merged\n") and merged_by(second) == 1
    for process in (scheduler, second, executor):
        assert not process.says("Traceback"), process.text()[-3000:]


def test_without_a_merger_the_scheduler_says_merges_wait(gate):
    g = gate
    g.change("nova", "fix")
    g.approve("nova", "fix")
    scheduler = g.start("scheduler", "a")
    scheduler.wait_for("wait for a merger: none is running", "the warning", timeout=40)
    merger, executor = g.start("merger", "m1"), g.start("executor", "e1")
    wait_until(lambda: g.outcome().get("fix") == "merged", "the change to land", timeout=60)
    assert merged_by(merger) == 1 and g.landed() == ["fix"]
    assert not executor.says("Traceback") and not scheduler.says("Traceback")


def test_a_merger_needs_mergers_in_the_configuration(tmp_path, zk_server):
    g = Gate(tmp_path)
    Hosts(g, zk_server.hosts, SESSION)              # executors, not mergers
    proc = subprocess.run([sys.executable, "-m", "gateq.cli", "-c", g.config, "merger"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"gateq: error: {g.config}/gateq.yaml: gateq merger needs "
                     "zookeeper.mergers: true in gateq.yaml (else the active scheduler makes "
                     "the merges itself)"]
