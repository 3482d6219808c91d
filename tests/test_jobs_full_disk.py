"""A full disk under the build logs (or the run records) never loses a
build: each is reported exactly once, with what its log lacks, shutdown
never raises, and the executor works on once space returns.

The disk is a real tmpfs of 512 KiB, mounted for each test (root only:
without root the tests skip, except in CI, where they fail)."""
from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
from pathlib import Path

import pytest

from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from jobs_fixture import SANDBOXES, run_until_done, sandbox_for, spec_for, tagged, wait_for, write_script

# 200-byte lines, one every 10 ms, until told to stop; the count of lines
# written goes outside the tiny disk, so the test sees the job go on.
TALKER = """\
n=0
while [ ! -e stop ]; do
    n=$((n + 1))
    printf 'line %05d %0190d\\n' "$n" 0
    echo "$n" > progress.tmp && mv progress.tmp progress
    sleep 0.01
done
echo last line
"""


@pytest.fixture(params=SANDBOXES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,nr_inodes=32", "tmpfs",
                           str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs to fill: {done.stderr.strip() or done.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def progress(tmp_path: Path) -> int:
    path = tmp_path / "progress"
    return int(path.read_text()) if path.exists() else 0


def start_talker(tmp_path: Path, executor: LocalExecutor, log_path: Path):
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", TALKER))
    spec = dataclasses.replace(spec, log_path=str(log_path))
    executor.start(spec)
    wait_for(lambda: "line 00003" in log_path.read_text(), "the first lines in the log")
    return spec


def go_on(tmp_path: Path, lines: int) -> None:
    """Let the job write `lines` more lines (more than the disk's last page holds)."""
    target = progress(tmp_path) + lines
    wait_for(lambda: progress(tmp_path) >= target, f"the job to write {lines} more lines")


def test_a_build_whose_log_fills_the_disk_is_reported_once_and_the_executor_goes_on(
        tmp_path, tiny_disk, mode):
    executor = LocalExecutor(sandbox=sandbox_for(mode))
    log_path = tiny_disk / "logs" / "b.log"
    spec = start_talker(tmp_path, executor, log_path)
    filler = fill(tiny_disk)
    go_on(tmp_path, 50)
    (tmp_path / "stop").touch()

    finished = run_until_done(executor)["b"]

    assert (finished.result, finished.returncode) == (JobResult.SUCCESS, 0)
    assert f"{log_path} could not be written: No space left on device" in finished.error
    assert executor.running() == [] and executor.poll() == []
    assert tagged(spec) == []
    executor.shutdown()                         # used to raise ChildProcessError

    filler.unlink()
    (tmp_path / "stop").unlink()
    again = start_talker(tmp_path, executor, tiny_disk / "logs" / "again.log")
    (tmp_path / "stop").touch()
    finished = run_until_done(executor)["b"]
    assert (finished.result, finished.error) == (JobResult.SUCCESS, None)
    assert (tiny_disk / "logs" / "again.log").read_text().splitlines()[-1].startswith(
        "=== build b success after ")
    assert tagged(again) == []


def test_once_space_returns_the_log_says_what_it_lost_and_goes_on(tmp_path, tiny_disk):
    executor = LocalExecutor()
    log_path = tiny_disk / "logs" / "b.log"
    start_talker(tmp_path, executor, log_path)
    filler = fill(tiny_disk)
    go_on(tmp_path, 50)
    filler.unlink()
    go_on(tmp_path, 3)
    (tmp_path / "stop").touch()

    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.SUCCESS
    lines = log_path.read_text().splitlines()
    gap = [line for line in lines if line.startswith("=== ") and "lost" in line]
    assert len(gap) == 1 and gap[0].endswith(" bytes of this log were lost: No space left on device ===")
    lost = int(gap[0].split()[1])
    assert lost >= 50 * 200 - 4096                # all but what the disk's last page took
    assert lines[lines.index(gap[0]) + 1].startswith("line ")
    assert lines[-2:-1] == ["last line"] and lines[-1].startswith("=== build b success after ")
    assert finished.error.startswith(f"{lost} bytes of {log_path} could not be written")


def test_shutdown_on_a_full_disk_reports_the_running_build_once_and_never_raises(
        tmp_path, tiny_disk, mode):
    executor = LocalExecutor(sandbox=sandbox_for(mode))
    spec = start_talker(tmp_path, executor, tiny_disk / "logs" / "b.log")
    fill(tiny_disk)
    go_on(tmp_path, 50)

    executor.shutdown()

    finished, = executor.poll()
    assert finished.result is JobResult.CANCELLED
    assert "No space left on device" in finished.error
    assert executor.running() == [] and executor.poll() == []
    assert tagged(spec) == []


def test_a_log_that_cannot_even_be_created_fails_the_build_once(tmp_path, tiny_disk):
    for n in range(100):                        # use up the disk's inodes
        try:
            (tiny_disk / f"file-{n}").touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
    executor = LocalExecutor()
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", "touch ran\n"))
    executor.start(dataclasses.replace(spec, log_path=str(tiny_disk / "b.log")))

    finished, = run_until_done(executor).values()

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, None)
    assert finished.error == f"cannot open {tiny_disk / 'b.log'}: No space left on device"
    assert not (tmp_path / "ran").exists()
    assert executor.poll() == [] and executor.running() == []


def test_a_full_disk_under_the_run_records_fails_the_build_before_it_starts(tmp_path, tiny_disk):
    executor = LocalExecutor(run_dir=str(tiny_disk / "run"))
    (tiny_disk / "run").mkdir()
    fill(tiny_disk)
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", "touch ran\n"))
    executor.start(spec)

    finished, = run_until_done(executor).values()

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, None)
    log = (tmp_path / "logs" / "b.log").read_text()
    assert f"cannot start {spec.script}: [Errno 28] No space left on device" in log
    assert not (tmp_path / "ran").exists()
    assert os.listdir(tiny_disk / "run") == []
