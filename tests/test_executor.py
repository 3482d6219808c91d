"""Scenarios for LocalExecutor against real shell scripts in tmp_path, each
run both without a sandbox and under bwrap: what a build does and how it
ends must not depend on it. (In CI a missing bwrap fails the sandboxed ones
instead of skipping them.)"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from jobs_fixture import (SANDBOXES, log_text, run_until_done, sandbox_for, spec_for, tagged,
                          wait_for, write_script)

# Starts three descendants which would outlive it for 100 s: a background
# sleep, and a bash that itself backgrounds a sleep.
SPAWNER = """\
sleep 100 &
bash -c 'sleep 100 & wait' &
touch ready
wait
"""


@pytest.fixture(params=SANDBOXES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def make_executor(mode):
    made = []

    def make(**options) -> LocalExecutor:
        made.append(LocalExecutor(sandbox=sandbox_for(mode), **options))
        return made[-1]
    yield make
    for executor in made:
        executor.shutdown()


@pytest.fixture
def executor(make_executor) -> LocalExecutor:
    return make_executor()


def spawned(tmp_path: Path, spec) -> list[int]:
    """The processes of a SPAWNER build, once all are there."""
    wait_for((tmp_path / "ready").exists, "the job to start its children")
    return wait_for(lambda: len(found := tagged(spec)) >= 4 and found,
                    "the job and its three descendants")


def test_success_reports_exit_zero_and_logs_output(tmp_path, executor):
    script = write_script(tmp_path, "job", "echo hello out\necho hello err >&2\n")
    executor.start(spec_for(tmp_path, "1-0-unit", script))
    assert executor.running() == ["1-0-unit"]

    finished = run_until_done(executor)["1-0-unit"]

    assert (finished.result, finished.returncode, finished.error) == (JobResult.SUCCESS, 0, None)
    assert finished.duration >= 0
    assert executor.running() == []
    assert executor.poll() == []
    lines = log_text(tmp_path, "1-0-unit").splitlines()
    assert lines[0].startswith("=== build 1-0-unit started ")
    assert lines[1:3] == ["hello out", "hello err"]
    assert lines[3].startswith("=== build 1-0-unit success after ")
    assert len(lines) == 4


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


def test_timeout_kills_every_process_of_the_build(tmp_path, executor):
    script = write_script(tmp_path, "job", SPAWNER)
    spec = spec_for(tmp_path, "b", script, timeout=1)
    executor.start(spec)
    spawned(tmp_path, spec)

    began = time.monotonic()
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.TIMED_OUT
    assert finished.returncode == -9
    assert time.monotonic() - began < 3
    assert tagged(spec) == []
    assert "=== build b timed-out after " in log_text(tmp_path, "b")


def test_timeout_follows_injected_clock(tmp_path, make_executor):
    now = [100.0]
    executor = make_executor(clock=lambda: now[0])
    script = write_script(tmp_path, "job", "sleep 100\n")
    executor.start(spec_for(tmp_path, "b", script, timeout=30))

    executor.poll()
    assert executor.running() == ["b"]
    now[0] += 30

    finished = run_until_done(executor)["b"]
    assert finished.result is JobResult.TIMED_OUT
    assert finished.duration == 30


def test_cancel_kills_everything_and_reports_cancelled_once(tmp_path, executor):
    script = write_script(tmp_path, "job", SPAWNER)
    spec = spec_for(tmp_path, "b", script)
    executor.start(spec)
    spawned(tmp_path, spec)

    executor.cancel("b")
    executor.cancel("b")
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.CANCELLED
    assert tagged(spec) == []
    assert executor.poll() == []
    executor.cancel("b")            # finished: no-op
    executor.cancel("never-started")


def test_a_cancelled_job_gets_its_grace_period(tmp_path, executor):
    script = write_script(tmp_path, "job", """\
        trap 'echo stopping; sleep 0.3; echo stopped; exit 0' TERM
        sleep 100 &
        touch ready
        wait
        """.replace("        ", ""))
    spec = spec_for(tmp_path, "b", script)
    executor.start(spec)
    wait_for((tmp_path / "ready").exists, "the job to start")

    executor.cancel("b")
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.CANCELLED
    assert finished.duration < 4                      # it ended by itself, not by SIGKILL
    assert "stopping\nstopped\n" in log_text(tmp_path, "b")
    assert tagged(spec) == []


def test_cancel_escalates_to_sigkill_after_grace(tmp_path, make_executor):
    executor = make_executor(kill_grace=0.3)
    script = write_script(tmp_path, "job", "trap '' TERM\n" + SPAWNER)
    spec = spec_for(tmp_path, "b", script)
    executor.start(spec)
    spawned(tmp_path, spec)

    executor.cancel("b")
    finished = run_until_done(executor, limit=3)["b"]

    assert finished.result is JobResult.CANCELLED
    assert finished.duration >= 0.3
    assert tagged(spec) == []


def test_leftover_background_processes_die_with_the_build(tmp_path, executor):
    script = write_script(tmp_path, "job", "sleep 100 &\ntouch ready\n")
    spec = spec_for(tmp_path, "b", script)
    executor.start(spec)

    assert run_until_done(executor)["b"].result is JobResult.SUCCESS
    assert (tmp_path / "ready").exists()
    assert tagged(spec) == []


@pytest.mark.parametrize("body, file_mode, reason", [
    (None, 0o755, "No such file or directory"),
    ("#!/bin/sh\ntrue\n", 0o644, "Permission denied"),
    ("this script has no interpreter line\n", 0o755, "Exec format error"),
])
def test_a_script_that_cannot_start_fails_with_the_reason_in_its_log(
        tmp_path, executor, body, file_mode, reason):
    script = tmp_path / "job"
    if body is not None:
        script.write_text(body)
        script.chmod(file_mode)
    executor.start(spec_for(tmp_path, "b", str(script)))

    assert executor.running() == []
    finished = run_until_done(executor)["b"]

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, None)
    log = log_text(tmp_path, "b")
    assert f"cannot start {script}: " in log and reason in log
    assert "=== build b failure after " in log


def test_builds_run_in_parallel(tmp_path, executor):
    script = write_script(tmp_path, "job", 'sleep 0.5\nexit "$CODE"\n')
    began = time.monotonic()
    for n in range(4):
        executor.start(spec_for(tmp_path, f"b{n}", script, env={"CODE": str(n % 2)}))
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


def test_shutdown_kills_everything(tmp_path, executor):
    script = write_script(tmp_path, "job", SPAWNER)
    spec = spec_for(tmp_path, "b", script)
    executor.start(spec)
    spawned(tmp_path, spec)

    executor.shutdown()

    assert executor.running() == []
    assert tagged(spec) == []
    assert [f.result for f in executor.poll()] == [JobResult.CANCELLED]


def test_the_duration_is_the_jobs_own_not_the_polling_delay(tmp_path, executor):
    script = write_script(tmp_path, "job", "sleep 0.5\ntouch done\n")
    executor.start(spec_for(tmp_path, "b", script))
    wait_for((tmp_path / "done").exists, "the job to end")
    time.sleep(2.0)             # not a synchronisation: an engine loop busy elsewhere polls late

    finished = run_until_done(executor)["b"]

    assert 0.45 <= finished.duration < 1.5, finished.duration
    assert f"=== build b success after {finished.duration:.2f}s ===" in log_text(tmp_path, "b")
