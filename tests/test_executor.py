"""Scenarios for LocalExecutor, run against real shell scripts in tmp_path."""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from gateq.core.types import JobResult
from gateq.executor import BuildSpec, Finished, LocalExecutor

# A script that starts three descendants which would outlive it for 100 s:
# a background sleep, and a bash that itself backgrounds a sleep. Each
# records its pid so the test can check they are all killed.
SPAWNER = """\
sleep 100 &
echo $! >> pids
bash -c 'sleep 100 & echo $! >> pids; echo $$ >> pids; wait' &
wait
"""


def write_script(tmp_path: Path, name: str, body: str, mode: int = 0o755) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(mode)
    return str(path)


def spec_for(tmp_path: Path, build: str, script: str, *, timeout: float = 10.0,
             env: dict[str, str] | None = None) -> BuildSpec:
    return BuildSpec(build=build, script=script, cwd=str(tmp_path),
                     env=env or {}, timeout=timeout,
                     log_path=str(tmp_path / "logs" / f"{build}.log"))


def run_until_done(executor: LocalExecutor, count: int = 1,
                   limit: float = 10.0) -> dict[str, Finished]:
    """Drive the executor like the engine loop does until `count` builds end."""
    done: dict[str, Finished] = {}
    end = time.monotonic() + limit
    while len(done) < count:
        assert time.monotonic() < end, f"only {sorted(done)} finished"
        for finished in executor.poll():
            assert finished.build not in done, "reported twice"
            done[finished.build] = finished
        executor.wait(0.1)
    return done


def wait_for_pids(path: Path, count: int, limit: float = 5.0) -> list[int]:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if path.exists():
            pids = [int(line) for line in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.01)
    raise AssertionError(f"script did not record {count} pids")


def alive(pid: int) -> bool:
    """A zombie counts as dead: orphans are reparented to an init we don't
    control, which may be slow to reap them."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def assert_all_gone(pids: list[int], limit: float = 2.0) -> None:
    end = time.monotonic() + limit
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < end, [p for p in pids if alive(p)]
        time.sleep(0.01)


def log_text(tmp_path: Path, build: str) -> str:
    return (tmp_path / "logs" / f"{build}.log").read_text()


@pytest.fixture
def executor():
    executor = LocalExecutor()
    yield executor
    executor.shutdown()


def test_success_reports_exit_zero_and_logs_output(tmp_path, executor):
    script = write_script(tmp_path, "job", "echo hello out\necho hello err >&2\n")
    executor.start(spec_for(tmp_path, "1-0-unit", script))
    assert executor.running() == ["1-0-unit"]

    finished = run_until_done(executor)["1-0-unit"]

    assert finished.result is JobResult.SUCCESS
    assert finished.returncode == 0
    assert finished.duration >= 0
    assert executor.running() == []
    assert executor.poll() == []
    lines = log_text(tmp_path, "1-0-unit").splitlines()
    assert lines[0].startswith("=== build 1-0-unit started ")
    assert lines[1:3] == ["hello out", "hello err"]
    assert lines[3].startswith("=== build 1-0-unit success after ")


def test_nonzero_exit_is_failure(tmp_path, executor):
    script = write_script(tmp_path, "job", "exit 3\n")
    executor.start(spec_for(tmp_path, "b", script))

    finished = run_until_done(executor)["b"]

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, 3)
    assert "=== build b failure after " in log_text(tmp_path, "b")


def test_script_sees_env_merged_over_os_environ_and_cwd(tmp_path, executor):
    work = tmp_path / "work"
    work.mkdir()
    script = write_script(tmp_path, "job", "env > env.txt\npwd > cwd.txt\n")
    spec = spec_for(tmp_path, "b", script, env={"GATEQ_ITEM": "12"})
    executor.start(dataclasses.replace(spec, cwd=str(work)))

    assert run_until_done(executor)["b"].result is JobResult.SUCCESS

    env = dict(line.split("=", 1)
               for line in (work / "env.txt").read_text().splitlines()
               if "=" in line)
    assert env["GATEQ_ITEM"] == "12"
    assert env["PATH"] == os.environ["PATH"]
    assert (work / "cwd.txt").read_text().strip() == str(work)


def test_log_is_appended_to(tmp_path, executor):
    script = write_script(tmp_path, "job", "echo run\n")
    for _ in range(2):
        executor.start(spec_for(tmp_path, "b", script))
        run_until_done(executor)

    assert log_text(tmp_path, "b").count("=== build b started ") == 2


def test_timeout_kills_whole_process_group(tmp_path, executor):
    script = write_script(tmp_path, "job", SPAWNER)
    executor.start(spec_for(tmp_path, "b", script, timeout=0.5))
    pids = wait_for_pids(tmp_path / "pids", 3)

    began = time.monotonic()
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.TIMED_OUT
    assert finished.returncode == -9
    assert time.monotonic() - began < 3
    assert_all_gone(pids)
    assert "=== build b timed-out after " in log_text(tmp_path, "b")


def test_timeout_follows_injected_clock(tmp_path):
    now = [100.0]
    executor = LocalExecutor(clock=lambda: now[0])
    script = write_script(tmp_path, "job", "sleep 100\n")
    executor.start(spec_for(tmp_path, "b", script, timeout=30))

    executor.poll()
    assert executor.running() == ["b"]
    now[0] += 30

    finished = run_until_done(executor)["b"]
    assert finished.result is JobResult.TIMED_OUT
    assert finished.duration == 30


def test_cancel_kills_group_and_reports_cancelled_once(tmp_path, executor):
    script = write_script(tmp_path, "job", SPAWNER)
    executor.start(spec_for(tmp_path, "b", script))
    pids = wait_for_pids(tmp_path / "pids", 3)

    executor.cancel("b")
    executor.cancel("b")
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.CANCELLED
    assert_all_gone(pids)
    assert executor.poll() == []
    executor.cancel("b")            # finished: no-op
    executor.cancel("never-started")


def test_cancel_escalates_to_sigkill_after_grace(tmp_path):
    executor = LocalExecutor(kill_grace=0.3)
    script = write_script(tmp_path, "job", "trap '' TERM\n" + SPAWNER)
    executor.start(spec_for(tmp_path, "b", script))
    pids = wait_for_pids(tmp_path / "pids", 3)

    executor.cancel("b")
    finished = run_until_done(executor, limit=3)["b"]

    assert finished.result is JobResult.CANCELLED
    assert finished.duration >= 0.3
    assert_all_gone(pids)


def test_leftover_background_processes_die_with_the_build(tmp_path, executor):
    script = write_script(tmp_path, "job", "sleep 100 &\necho $! > pids\n")
    executor.start(spec_for(tmp_path, "b", script))

    assert run_until_done(executor)["b"].result is JobResult.SUCCESS
    assert_all_gone(wait_for_pids(tmp_path / "pids", 1))


@pytest.mark.parametrize("make_script, reason", [
    (lambda tmp: str(tmp / "missing"), "No such file"),
    (lambda tmp: write_script(tmp, "job", "true\n", mode=0o644),
     "Permission denied"),
])
def test_unstartable_script_fails_with_reason_in_log(
        tmp_path, executor, make_script, reason):
    script = make_script(tmp_path)
    executor.start(spec_for(tmp_path, "b", script))

    assert executor.running() == []
    finished = run_until_done(executor)["b"]

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, None)
    log = log_text(tmp_path, "b")
    assert f"cannot start {script}: " in log
    assert reason in log
    assert "=== build b failure after " in log


def test_builds_run_in_parallel(tmp_path, executor):
    script = write_script(tmp_path, "job", 'sleep 0.5\nexit "$CODE"\n')
    began = time.monotonic()
    for n in range(4):
        executor.start(spec_for(tmp_path, f"b{n}", script,
                                env={"CODE": str(n % 2)}))
    assert sorted(executor.running()) == ["b0", "b1", "b2", "b3"]

    done = run_until_done(executor, count=4)

    assert time.monotonic() - began < 1.5
    assert [done[f"b{n}"].result for n in range(4)] == [
        JobResult.SUCCESS, JobResult.FAILURE] * 2


def test_starting_a_running_build_twice_is_an_error(tmp_path, executor):
    script = write_script(tmp_path, "job", "sleep 100\n")
    executor.start(spec_for(tmp_path, "b", script))

    with pytest.raises(ValueError):
        executor.start(spec_for(tmp_path, "b", script))


def test_shutdown_kills_everything(tmp_path):
    executor = LocalExecutor()
    script = write_script(tmp_path, "job", SPAWNER)
    executor.start(spec_for(tmp_path, "b", script))
    pids = wait_for_pids(tmp_path / "pids", 3)

    executor.shutdown()

    assert executor.running() == []
    assert_all_gone(pids)
    assert [f.result for f in executor.poll()] == [JobResult.CANCELLED]
