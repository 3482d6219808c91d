"""The executor's builds on a node (a real sshd, tests/sshd_fixture.py),
driven as the engine loop drives it: cancel, a job that ignores SIGTERM,
artifacts brought back (and what may not come back), a node that stops
answering, a build waiting for a slot, a duration taken on the node."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from gateq.config.model import NodeSettings
from gateq.core.types import JobResult
from gateq.executor import BuildSpec, LocalExecutor
from gateq.nodes.work import NodeWork
from jobs_fixture import log_text, run_until_done, wait_for, write_script
from sshd_fixture import processes_of, sshd  # noqa: F401  (the fixture)


def node_of(server, tmp_path: Path, slots: int = 1) -> NodeSettings:
    known = server.write_known_hosts(str(tmp_path / f"known_hosts_{server.port}"))
    return NodeSettings(name="builder1", host="127.0.0.1", port=server.port, user=server.user,
                        sshkey=server.client_key, known_hosts=known, labels=("fedora-40",),
                        slots=slots, connect_timeout=5.0, keepalive=1.0)


def executor_for(nodes, kill_grace: float = 5.0) -> LocalExecutor:
    executor = LocalExecutor(kill_grace=kill_grace)
    executor.use_nodes(nodes)
    return executor


def node_spec(tmp_path: Path, build: str, body: str, timeout: float = 30.0,
              brings_back: tuple[str, ...] = ()) -> BuildSpec:
    workspace = tmp_path / "work" / build
    (workspace / "artifacts").mkdir(parents=True)
    script = write_script(tmp_path, f"{build}.sh", body)
    return BuildSpec(build=build, script=script, cwd=str(workspace),
                     env={"GATEQ_WORKSPACE": str(workspace),
                          "GATEQ_ARTIFACTS": str(workspace / "artifacts")},
                     timeout=timeout, log_path=str(tmp_path / "logs" / f"{build}.log"),
                     node=NodeWork("fedora-40", str(workspace), sends=("artifacts",),
                                   brings_back=brings_back))


def started(tmp_path: Path, build: str) -> None:
    wait_for(lambda: "job running" in log_text(tmp_path, build)
             if (tmp_path / "logs" / f"{build}.log").exists() else False, "the job to start", 20)


def test_a_cancelled_build_is_stopped_on_the_node(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    executor.start(node_spec(tmp_path, "1-0-unit", "sleep 300 &\necho job running\nwait\n"))
    started(tmp_path, "1-0-unit")
    executor.cancel("1-0-unit")
    finished = run_until_done(executor, limit=20)["1-0-unit"]
    assert finished.result is JobResult.CANCELLED
    assert processes_of(sshd.user) == []
    executor.shutdown()


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)], kill_grace=0.5)
    executor.start(node_spec(tmp_path, "1-0-unit",
                             "trap '' TERM\necho job running\nwhile :; do sleep 0.1; done\n"))
    started(tmp_path, "1-0-unit")
    began = time.monotonic()
    executor.cancel("1-0-unit")
    finished = run_until_done(executor, limit=20)["1-0-unit"]
    assert finished.result is JobResult.CANCELLED and 0.5 <= time.monotonic() - began < 10
    assert processes_of(sshd.user) == []
    executor.shutdown()


def test_artifacts_come_back_into_the_workspace_before_the_build_is_reported(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    spec = node_spec(tmp_path, "1-0-build", 'mkdir -p "$GATEQ_ARTIFACTS/el9"\n'
                     'echo rpm > "$GATEQ_ARTIFACTS/el9/pkg.rpm"\n', brings_back=("artifacts",))
    executor.start(spec)
    finished = run_until_done(executor, limit=20)["1-0-build"]
    assert finished.result is JobResult.SUCCESS, log_text(tmp_path, "1-0-build")
    assert (tmp_path / "work" / "1-0-build" / "artifacts" / "el9" / "pkg.rpm").read_text() == "rpm\n"
    executor.shutdown()


def test_an_artifact_linking_outside_its_workspace_is_refused(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    executor.start(node_spec(tmp_path, "1-0-build", 'ln -s /etc/shadow "$GATEQ_ARTIFACTS/x"\n',
                             brings_back=("artifacts",)))
    finished = run_until_done(executor, limit=20)["1-0-build"]
    assert finished.result is JobResult.FAILURE
    assert "cannot copy artifacts/ back from the node" in finished.error
    assert not (tmp_path / "work" / "1-0-build" / "artifacts" / "x").exists()
    executor.shutdown()


def test_a_node_that_stops_answering_fails_its_build_as_a_node_failure(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    executor.start(node_spec(tmp_path, "1-0-unit", "echo job running\nsleep 300\n"))
    started(tmp_path, "1-0-unit")
    sessions = sshd.sessions()
    for pid in [sshd.process.pid, *sessions]:
        os.kill(pid, signal.SIGSTOP)               # there, but silent: TCP stays open
    try:
        began = time.monotonic()
        finished = run_until_done(executor, limit=20)["1-0-unit"]
        assert finished.result is JobResult.NODE_FAILURE
        assert time.monotonic() - began < 5        # keepalive: 1 s
        assert finished.error.startswith("node builder1 (") and "did not answer for 1s" in finished.error
        assert "node-failure" in log_text(tmp_path, "1-0-unit")
    finally:
        for pid in [sshd.process.pid, *sessions]:
            os.kill(pid, signal.SIGCONT)
    executor.shutdown()


def test_a_build_waits_for_a_free_slot_and_can_be_cancelled_while_waiting(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path, slots=1)])
    executor.start(node_spec(tmp_path, "1-0-unit", "echo job running\nsleep 300\n"))
    executor.start(node_spec(tmp_path, "2-0-unit", "echo job running\n"))
    started(tmp_path, "1-0-unit")
    assert sorted(executor.running()) == ["1-0-unit", "2-0-unit"]
    assert not (tmp_path / "logs" / "2-0-unit.log").exists()        # not started: waiting
    executor.cancel("2-0-unit")
    finished = run_until_done(executor, limit=5)["2-0-unit"]
    assert finished.result is JobResult.CANCELLED
    assert "cancelled while waiting for a node" in log_text(tmp_path, "2-0-unit")
    executor.shutdown()
    assert run_until_done(executor, limit=20)["1-0-unit"].result is JobResult.CANCELLED
    assert processes_of(sshd.user) == []


def test_the_duration_is_the_jobs_own_taken_on_the_node(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    executor.start(node_spec(tmp_path, "1-0-unit", "sleep 1\n"))
    finished = run_until_done(executor, limit=20)["1-0-unit"]
    assert finished.result is JobResult.SUCCESS and finished.returncode == 0
    assert 1.0 <= finished.duration < 1.3
    assert f"success after {finished.duration:.2f}s" in log_text(tmp_path, "1-0-unit")
    executor.shutdown()


def test_a_script_that_cannot_run_there_fails_the_build_saying_why(tmp_path, sshd):
    executor = executor_for([node_of(sshd, tmp_path)])
    spec = node_spec(tmp_path, "1-0-unit", "echo never\n")
    os.chmod(spec.script, 0o644)
    executor.start(spec)
    finished = run_until_done(executor, limit=20)["1-0-unit"]
    assert (finished.result, finished.returncode) == (JobResult.FAILURE, 126)
    assert "Permission denied" in log_text(tmp_path, "1-0-unit")
    executor.shutdown()
