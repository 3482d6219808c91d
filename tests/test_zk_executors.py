"""Builds on `gateq executor` processes (zookeeper.executors: true), each
on a 'host' of its own (its own state directory and repositories, filled
from the active scheduler's git daemon), against a real ZooKeeper:

- the builds run on the executors, by priority, within their slots, and
  every good change lands once, in queue order; a failing one does not;
- an executor killed (SIGKILL) mid-build: its claim goes with its session,
  the other executor runs the build again, and nothing of the first run is
  left running;
- the active scheduler killed while a build runs on an executor: the
  standby adopts the build (it is not run again) and lands the change.
"""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from gate_fixture import Gate, wait_until
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Hosts, Process

SESSION = 3


@pytest.fixture
def gate(tmp_path, zk_server):
    g = Gate(tmp_path, projects=("nova", "glance"), window=5, slots=1)
    hosts = Hosts(g, zk_server.hosts, SESSION)
    g.zk_hosts, g.start = zk_server.hosts, hosts.start
    yield g
    hosts.stop()


def executor_running(process: Process) -> bool:
    return process.says("taking builds")


def ran_on(g: Gate, ref: str, project: str = "nova") -> list[str]:
    """The executors (by log) that ran the change's builds to their end."""
    found = []
    for result in g.results():
        if result["change"] == ref and result["project"] == project:
            for job in result["jobs"]:
                log = os.path.join(g.config, "state", "logs", f"{job['build']}.log")
                with open(log) as f:
                    found += [line.split()[-1] for line in f if "ran on executor" in line]
    return found


def test_builds_run_on_executors_and_land_in_queue_order(gate):
    g = gate
    g.change("nova", "fix-1", {"SLEEP": "1"})
    g.change("glance", "fix-2")
    g.change("nova", "bad-3", {"FAIL": "x"})
    g.change("glance", "fix-4")
    for project, ref in (("nova", "fix-1"), ("glance", "fix-2"), ("nova", "bad-3"),
                         ("glance", "fix-4")):
        g.approve(project, ref)
    scheduler = g.start("scheduler", "a")
    wait_until(lambda: scheduler.says("scheduler active"), "the scheduler to be active")
    e1, e2 = g.start("executor", "e1"), g.start("executor", "e2", "--slots", "2")
    wait_until(lambda: len(g.results()) == 4, "every result", timeout=120)
    assert g.outcome() == {"fix-1": "merged", "fix-2": "merged", "bad-3": "failed",
                           "fix-4": "merged"}
    assert g.landed("nova") == ["fix-1"] and g.landed("glance") == ["fix-2", "fix-4"]
    executors = {name.rsplit(":", 1)[0] for ref, p in (("fix-1", "nova"), ("fix-4", "glance"))
                 for name in ran_on(g, ref, p)}
    assert executors and all(e1.says("took build") or e2.says("took build") for _ in executors)
    assert not scheduler.says("Traceback") and not e1.says("Traceback")
    # The executors' own repositories hold the speculative commits they were sent.
    own = os.path.join(g.root, "config-e1", "state", "executor-git")
    assert os.path.isdir(own) or os.path.isdir(os.path.join(g.root, "config-e2", "state",
                                                            "executor-git"))


def test_an_executor_killed_mid_build_is_replaced(gate):
    g = gate
    g.change("nova", "slow", {"SLEEP": "6"})
    g.approve("nova", "slow")
    scheduler = g.start("scheduler", "a")
    first = g.start("executor", "e1")
    wait_until(lambda: first.says("took build"), "the first executor to take the build")
    wait_until(lambda: g.seen_builds("slow"), "the build to run")
    second = g.start("executor", "e2")
    wait_until(lambda: executor_running(second), "the second executor to start")
    first.process.kill()
    first.process.wait()
    wait_until(lambda: second.says("took build"), "the second executor to take the build over",
               timeout=SESSION * 4)
    wait_until(lambda: g.outcome().get("slow") == "merged", "the change to land", timeout=60)
    assert g.landed() == ["slow"]
    build = g.results()[0]["jobs"][0]["build"]
    assert first.says(f"took build {build}") and second.says(f"took build {build}")
    assert second.says(f"build {build} success")  # killed once, run again to its end
    assert not scheduler.says("Traceback")
    # Nothing of the killed executor's run is left (its sandbox dies with it).
    left = subprocess.run(["pgrep", "-f", "sleep 6"], capture_output=True, text=True).stdout
    assert left.strip() == ""


def test_a_standby_scheduler_adopts_the_builds_running_on_executors(gate):
    g = gate
    g.change("nova", "long", {"SLEEP": "5"})
    g.approve("nova", "long")
    a = g.start("scheduler", "a")
    wait_until(lambda: a.says("scheduler active"), "the first scheduler to be active")
    b = g.start("scheduler", "b")
    wait_until(lambda: b.says("standing by"), "the second scheduler to stand by")
    executor = g.start("executor", "e1")
    wait_until(lambda: g.seen_builds("long"), "the build to run on the executor")
    a.process.kill()
    wait_until(lambda: b.says("scheduler active"), "the standby to take over", timeout=30)
    wait_until(lambda: g.outcome().get("long") == "merged", "the change to land", timeout=60)
    assert g.landed() == ["long"]
    assert executor.text().count("took build") == 1   # adopted, not run again
    assert b.says("scheduler active") and not b.says("Traceback")


def test_executors_take_gate_builds_first(gate):
    g = gate
    g.change("nova", "checked")
    g.change("glance", "gated")
    scheduler = g.start("scheduler", "a")
    wait_until(lambda: scheduler.says("scheduler active"), "the scheduler to be active")
    g.propose("nova", "checked")                 # asked for first, in check
    g.approve("glance", "gated")                 # then in gate, which goes first
    wait_until(lambda: _requests(g) == 2, "both builds to be asked for", timeout=30)
    executor = g.start("executor", "e1", "--slots", "1")
    wait_until(lambda: len(g.results(None)) == 2, "both results", timeout=60)
    took = [line.split("(")[1] for line in executor.text().splitlines() if "took build" in line]
    assert took[:2] == ["check of glance:gated)", "check of nova:checked)"]


def _requests(g: Gate) -> int:
    """How many build requests wait in ZooKeeper."""
    from kazoo.client import KazooClient
    client = KazooClient(hosts=g.zk_hosts)
    client.start(10)
    try:
        return len(client.get_children("/gateq/builds/requests")) \
            if client.exists("/gateq/builds/requests") else 0
    finally:
        client.stop()
        client.close()


HALFWAY = """\
#!/bin/sh
echo "halfway there"
sleep 30
echo "tests passed"
"""


def test_a_web_on_another_host_shows_a_build_log_live_from_its_executor(gate):
    """A running build's log is written on its executor's host: a web on
    a third host names that executor and shows the log as it grows, from
    the executor's log server (page, raw log and live events)."""
    from test_web_helpers import Client
    g = gate
    g.write_job("check.sh", HALFWAY)
    g.change("nova", "slow")
    g.approve("nova", "slow")
    scheduler = g.start("scheduler", "a")
    wait_until(lambda: scheduler.says("scheduler active"), "the scheduler to be active")
    e1 = g.start("executor", "e1")
    e1.wait_for("took build", "the executor to take the build")
    build = e1.text().split("took build ", 1)[1].split()[0]
    log = os.path.join(g.root, "config-e1", "state", "logs", f"{build}.log")
    wait_until(lambda: os.path.isfile(log) and "halfway there" in open(log).read(),
               "the job to write its first line on the executor's host")
    web = g.start("web", "w", "--listen", "127.0.0.1:0")
    client = Client(web.url())
    name = f"{socket.gethostname()}:{e1.process.pid}"
    page = client.json(f"/api/builds/{build}")
    assert page["finished"] is False
    assert f"=== build {build} started" in page["log"]["text"]
    assert "halfway there\n" in page["log"]["text"] and page["log"]["elsewhere"] is None
    code, _, body = client.get(f"/builds/{build}/log")
    assert code == 200 and body == open(log, "rb").read(), body
    events = client.events(f"/api/builds/{build}/log/events?offset=0",
                           lambda events: "halfway there" in "".join(d for _, d in events))
    assert events[0][0] == "log"
    assert not scheduler.says("Traceback") and not web.says("Traceback")
    # Its executor killed, its claim goes with its session: the page no
    # longer names it, nor shows a log no one serves.
    e1.process.kill()
    e1.process.wait()
    page = wait_until(lambda: (p := client.json(f"/api/builds/{build}"))
                      and name not in str(p["log"]["elsewhere"]) and p,
                      "the dead executor's claim to go", timeout=SESSION * 4)
    assert "halfway" not in page["log"]["text"]
