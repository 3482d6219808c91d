"""The gate on ZooKeeper survives its processes failing, one after the
other, in one run: two schedulers, two mergers and two executors on one
real ZooKeeper, 40 changes in three projects, some failing and some
conflicting. Mid-run:

1. SIGKILL the active scheduler (the standby takes over; it is started again);
2. SIGKILL an executor that holds a build (the other runs it; it is started again);
3. SIGKILL a merger in the middle of a merge (the last change's, approved
   while the scheduler's git daemon is stopped, so that its fetch waits):
   the other merger makes it; the killed one is started again;
4. restart ZooKeeper itself;
5. SIGSTOP the active scheduler past its session timeout, then SIGCONT it.

After all of it: every good change landed exactly once and in queue order,
nothing that failed landed, each change has one result, what failed failed
for its own reason, and no build is left running.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

from gate_fixture import Gate, wait_until
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Process, add_zookeeper, git_daemon_of, host_config

SESSION = 3
PROJECTS = ("nova", "glance", "cinder")


def plan() -> list[tuple[str, str, dict[str, str], str]]:
    """(project, change, files, expected result), in the order approved.
    Every 7th change fails its job; in four pairs of good changes writing
    one file, the second conflicts with the first, which lands; c27
    conflicts only with c24, which fails, so it lands (Zuul's semantics)."""
    changes = []
    for n in range(40):
        project = PROJECTS[n % 3]
        name = f"c{n:02d}"
        files = {f"{name}.txt": f"{name}\n", "SLEEP": "1"}
        expected = "merged"
        if n % 7 == 3:
            files["FAIL"] = "x"
            expected = "failed"
        changes.append([project, name, files, expected])
    for first in (4, 13, 22, 32):         # c04/c07, c13/c16 ...: the same project (n % 3)
        second = first + 3
        for n, text in ((first, "one\n"), (second, "two\n")):
            changes[n][2]["shared.txt"] = text
        changes[second][3] = "merge-conflict"
    for n, text in ((24, "bad\n"), (27, "good\n")):   # c24 fails: c27 conflicted only with it
        changes[n][2]["other.txt"] = text
    return [tuple(c) for c in changes]


def claimed_by(executor: Process) -> bool:
    """Whether the executor is running a build (it said it took one since
    its last end)."""
    text = executor.text()
    return text.rfind("took build") > max(text.rfind(" success"), text.rfind(" failure"))


def leftover_jobs(g: Gate) -> str:
    return subprocess.run(["pgrep", "-af", g.seen], capture_output=True, text=True).stdout


def test_every_process_failing_in_turn_loses_and_doubles_nothing(zk_server, tmp_path):
    g = Gate(tmp_path, projects=PROJECTS, window=6, slots=2)
    add_zookeeper(g, zk_server.hosts, SESSION, executors=True, mergers=True)
    configs = {"a": g.config, **{host: host_config(g, host) for host in ("b", "e1", "e2", "m1",
                                                                        "m2")}}
    runs: list[Process] = []

    def start(host: str, command: str) -> Process:
        process = Process(configs[host], os.path.join(g.root, f"{host}-{len(runs)}.log"), command)
        runs.append(process)
        return process

    changes = plan()
    for project, name, files, _ in changes:
        g.change(project, name, files)
    try:
        schedulers = [start("a", "scheduler")]
        wait_until(lambda: schedulers[0].says("scheduler active"), "the first scheduler")
        schedulers.append(start("b", "scheduler"))
        executors = {"e1": start("e1", "executor"), "e2": start("e2", "executor")}
        mergers = {"m1": start("m1", "merger"), "m2": start("m2", "merger")}
        last_project, last, _, _ = changes[-1]
        for project, name, _, _ in changes[:-1]:
            g.approve(project, name)

        def done() -> int:
            return len(g.results())

        def active() -> Process:
            return wait_until(lambda: next((s for s in schedulers if s.process.poll() is None
                                            and s.text().count("scheduler active")
                                            > s.text().count("lost its term")), None),
                              "an active scheduler", timeout=60)

        # 1. the active scheduler, killed
        wait_until(lambda: done() >= 4, "a first results", timeout=120)
        victim = active()
        victim.process.kill()
        schedulers.remove(victim)
        host = "a" if victim.config == configs["a"] else "b"
        schedulers.append(start(host, "scheduler"))
        # 2. an executor, killed mid-build, and started again
        wait_until(lambda: done() >= 12, "more results", timeout=180)
        name, busy = wait_until(lambda: next(((n, e) for n, e in executors.items()
                                              if claimed_by(e)), None),
                                "an executor running a build", timeout=60)
        busy.process.kill()
        busy.process.wait()
        executors[name] = start(name, "executor")
        # 3. a merger, killed mid-merge, and started again
        daemon = git_daemon_of(active())
        os.kill(daemon, signal.SIGSTOP)
        try:
            g.approve(last_project, last)
            name, merging = wait_until(lambda: next(((n, m) for n, m in mergers.items()
                                                     if f":{last})" in m.text()), None),
                                       "a merger to take the last change's merge", timeout=60)
            merging.process.kill()
            merging.process.wait()
        finally:
            os.kill(daemon, signal.SIGCONT)
        mergers[name] = start(name, "merger")
        # 4. ZooKeeper, restarted
        wait_until(lambda: done() >= 20, "more results", timeout=180)
        zk_server.stop()
        time.sleep(1)                    # down for a while, not a blip
        zk_server.start()
        # 5. the active scheduler, frozen past its session timeout
        wait_until(lambda: done() >= 28, "more results", timeout=180)
        frozen = active()
        frozen.process.send_signal(signal.SIGSTOP)
        wait_until(lambda: any(s is not frozen and s.text().count("scheduler active") >
                               s.text().count("lost its term") for s in schedulers
                               if s.process.poll() is None),
                   "the standby to take over from the frozen scheduler", timeout=60)
        frozen.process.send_signal(signal.SIGCONT)

        wait_until(lambda: done() == len(changes), "every result", timeout=300)
        results = {r["change"]: r for r in g.results()}
        assert len(g.results()) == len(changes)                  # one result each
        wrong = {n: (results[n]["result"], results[n].get("reason"))
                 for _, n, _, expected in changes if results[n]["result"] != expected}
        assert wrong == {}
        for project in PROJECTS:
            assert g.landed(project) == [n for p, n, _, e in changes if p == project
                                         and e == "merged"]    # once each, in queue order
        for _, n, files, expected in changes:
            if expected == "failed":                             # its own job, not a lost node
                assert results[n]["reason"].startswith("job check failure"), results[n]
        wait_until(lambda: leftover_jobs(g) == "", "no build left running", timeout=30)
        merged = [m for m in runs if m.config in (configs["m1"], configs["m2"])
                  and f":{last})" in m.text()]
        assert len(merged) >= 2           # the killed merger took it, and another after it
    finally:
        for process in runs:
            process.stop()
