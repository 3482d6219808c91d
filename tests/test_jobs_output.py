"""A build's output is capped (logs.max-output): the log says where it was
cut, the job runs on at full speed, and the engine loop is not held up."""
from __future__ import annotations

import dataclasses
import time

import pytest

from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from jobs_fixture import SANDBOXES, log_text, run_until_done, sandbox_for, spec_for, write_script

MIB = 1024 * 1024


@pytest.fixture(params=SANDBOXES)
def mode(request) -> str:
    return request.param


def test_output_past_the_cap_is_cut_with_a_note_and_the_job_runs_on(tmp_path, mode):
    executor = LocalExecutor(sandbox=sandbox_for(mode), max_output=MIB)
    script = write_script(tmp_path, "job", """\
        echo first line
        head -c 3145728 /dev/zero | tr '\\0' x
        echo still running > after
        echo last words
        """.replace("        ", ""))
    executor.start(spec_for(tmp_path, "b", script))

    finished = run_until_done(executor)["b"]

    assert (finished.result, finished.error) == (JobResult.SUCCESS, None)
    assert (tmp_path / "after").read_text() == "still running\n"
    header, rest = log_text(tmp_path, "b").split("\n", 1)
    assert header.startswith("=== build b started ")
    kept = "first line\n" + "x" * (MIB - len("first line\n"))
    assert rest.startswith(kept + "\n=== output cut at 1048576 bytes: the job wrote more, "
                                  "which is not kept ===\n")
    notes = rest[len(kept) + 1:].splitlines()[1:]
    dropped = 3 * MIB + len("last words\n") - (MIB - len("first line\n"))
    assert notes[0] == f"=== {dropped} more bytes of output were not kept ==="
    assert notes[1].startswith("=== build b success after ") and len(notes) == 2


def test_a_cut_between_two_reads_still_starts_its_own_line(tmp_path):
    """The job fills the cap exactly, waits until its log holds all of it
    (so the cut falls between two reads of the pipe), then writes more."""
    header = len("=== build b started 2026-01-01T00:00:00+00:00 ===\n")
    executor = LocalExecutor(max_output=MIB)
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", """\
        head -c 1048576 /dev/zero | tr '\\0' z
        while [ "$(stat -c %s "$LOG")" -lt "$FULL" ]; do sleep 0.01; done
        echo more
        """.replace("        ", "")))
    spec = dataclasses.replace(spec, env={**spec.env, "LOG": spec.log_path,
                                          "FULL": str(header + MIB)})
    executor.start(spec)

    assert run_until_done(executor)["b"].result is JobResult.SUCCESS
    lines = log_text(tmp_path, "b").split("\n")
    assert lines[1] == "z" * MIB
    assert lines[2].startswith("=== output cut at 1048576 bytes: ")
    assert lines[3] == "=== 5 more bytes of output were not kept ==="


def test_the_cap_is_64_mib_unless_configured(tmp_path):
    executor = LocalExecutor()
    script = write_script(tmp_path, "job", "head -c 67109864 /dev/zero | tr '\\0' y\n")
    executor.start(spec_for(tmp_path, "b", script))

    assert run_until_done(executor, limit=60)["b"].result is JobResult.SUCCESS

    lines = log_text(tmp_path, "b").split("\n")
    assert lines[1] == "y" * (64 * MIB)
    assert lines[2].startswith("=== output cut at 67108864 bytes: ")
    assert lines[3] == "=== 1000 more bytes of output were not kept ==="


# Writes 500 MB to its output, then the same to a pipe read by cat, and
# says how long each took, in milliseconds.
FAST_WRITER = """\
t0=$(date +%s%N)
head -c 500000000 /dev/zero
t1=$(date +%s%N)
head -c 500000000 /dev/zero | cat > /dev/null
t2=$(date +%s%N)
echo "$(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 ))" > times
"""


def test_a_fast_writer_runs_at_pipe_speed_and_the_engine_loop_is_not_held_up(tmp_path):
    executor = LocalExecutor(max_output=MIB)
    executor.start(spec_for(tmp_path, "b", write_script(tmp_path, "job", FAST_WRITER), timeout=120))
    slowest_poll = 0.0
    done = []
    end = time.monotonic() + 120
    while not done and time.monotonic() < end:
        began = time.perf_counter()
        done = executor.poll()
        slowest_poll = max(slowest_poll, time.perf_counter() - began)
        executor.wait(0.05)

    assert done and done[0].result is JobResult.SUCCESS
    through_gateq, through_cat = (int(n) for n in (tmp_path / "times").read_text().split())
    assert through_gateq < 5 * through_cat + 500, (through_gateq, through_cat)
    assert slowest_poll < 0.2
