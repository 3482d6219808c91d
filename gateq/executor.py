"""Run job scripts as local processes for a single-threaded engine loop.

`start` never blocks and `poll` reports builds that ended since the last
call, so the loop stays responsive. Each build runs in its own process
group: timeouts, cancels and shutdown kill the whole group, so nothing a
job spawned outlives its build. With a sandbox, the group's leader is bwrap
running the script (see gateq/sandbox.py).
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Callable, Mapping

from .core.types import JobResult
from .sandbox import Sandbox

# How often `wait` looks at the children; short enough that a finished
# build is noticed promptly, long enough not to spin the CPU.
_WAIT_STEP = 0.02


@dataclass(frozen=True)
class BuildSpec:
    """Everything needed to run one build; `env` is merged over os.environ.
    In a sandbox, `writable` paths are writable inside its read-only ones,
    and `readonly` paths read-only again inside those."""
    build: str
    script: str
    cwd: str
    env: Mapping[str, str]
    timeout: float
    log_path: str
    writable: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finished:
    """A build that ended; `returncode` is None if the script never started."""
    build: str
    result: JobResult
    returncode: int | None
    duration: float


@dataclass
class _Run:
    """One live build. `ending` records why we killed it, if we did: the
    first reason wins, so a timed-out build cancelled later stays timed out.
    """
    spec: BuildSpec
    proc: subprocess.Popen
    log: IO[str]
    started: float
    ending: JobResult | None = None
    kill_at: float | None = None     # when a SIGTERMed group gets SIGKILL

    @property
    def deadline(self) -> float:
        return self.started + self.spec.timeout


class LocalExecutor:
    """Starts, watches and kills build processes.

    Invariants: a build id is in `running()` from `start` until `poll`
    reports it, and is reported exactly once. A build's process leader is
    reaped only after its group was sent SIGKILL, so the group id cannot be
    recycled while we may still signal it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 *, kill_grace: float = 5.0, sandbox: Sandbox | None = None) -> None:
        self._clock = clock
        self._kill_grace = kill_grace
        self._sandbox = sandbox
        self._runs: dict[str, _Run] = {}
        self._done: list[Finished] = []

    def start(self, spec: BuildSpec) -> None:
        """Launch `spec.script`; a script that cannot be started is
        reported as FAILURE by the next `poll`, with the reason in its log."""
        if spec.build in self._runs:
            raise ValueError(f"build {spec.build} is already running")
        log = _open_log(spec)
        started = self._clock()
        argv = [spec.script]
        try:
            if self._sandbox:
                _check_startable(spec.script)
                argv = self._sandbox.command(argv, spec.cwd, spec.writable, spec.readonly)
            proc = subprocess.Popen(
                argv, cwd=spec.cwd, env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        except OSError as exc:
            log.write(f"cannot start {spec.script}: {exc}\n")
            self._finish_log(log, spec.build, JobResult.FAILURE, 0.0)
            self._done.append(Finished(spec.build, JobResult.FAILURE, None, 0.0))
            return
        self._runs[spec.build] = _Run(spec, proc, log, started)

    def cancel(self, build: str) -> None:
        """Ask the build's group to stop (SIGTERM); `poll` escalates to
        SIGKILL after the grace period. Unknown or finished builds: no-op."""
        run = self._runs.get(build)
        if run is None or run.ending is not None:
            return
        run.ending = JobResult.CANCELLED
        run.kill_at = self._clock() + self._kill_grace
        if self._sandbox:
            _signal_followers(run.proc.pid, signal.SIGTERM)
        else:
            _signal_group(run.proc.pid, signal.SIGTERM)

    def poll(self) -> list[Finished]:
        """Enforce timeouts and grace periods, and return builds that ended."""
        now = self._clock()
        for run in list(self._runs.values()):
            if _has_exited(run.proc.pid):
                self._reap(run, now)
            elif run.ending is None and now >= run.deadline:
                run.ending = JobResult.TIMED_OUT
                _signal_group(run.proc.pid, signal.SIGKILL)
            elif run.kill_at is not None and now >= run.kill_at:
                run.kill_at = None
                _signal_group(run.proc.pid, signal.SIGKILL)
        done, self._done = self._done, []
        return done

    def running(self) -> list[str]:
        return list(self._runs)

    def pid(self, build: str) -> int | None:
        """The process (and group) id of a running build, for orphan records."""
        run = self._runs.get(build)
        return run.proc.pid if run else None

    def wait(self, timeout: float) -> None:
        """Sleep until a build may have ended or needs a kill, at most
        `timeout` seconds; the caller then calls `poll`."""
        end = time.monotonic() + min(timeout, self._until_next_deadline())
        while not self._done and not any(
                _has_exited(run.proc.pid) for run in self._runs.values()):
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, _WAIT_STEP))

    def shutdown(self) -> None:
        """Kill every running build's group and reap it; the builds are
        reported as CANCELLED by a later `poll`."""
        for run in list(self._runs.values()):
            if run.ending is None:
                run.ending = JobResult.CANCELLED
            _signal_group(run.proc.pid, signal.SIGKILL)
            os.waitid(os.P_PID, run.proc.pid, os.WEXITED | os.WNOWAIT)
            self._reap(run, self._clock())

    def _reap(self, run: _Run, now: float) -> None:
        # Kill what the job left behind (e.g. `daemon &`) before reaping
        # the leader, while its pid still pins the group id.
        _signal_group(run.proc.pid, signal.SIGKILL)
        returncode = run.proc.wait()
        result = run.ending or (
            JobResult.SUCCESS if returncode == 0 else JobResult.FAILURE)
        duration = now - run.started
        self._finish_log(run.log, run.spec.build, result, duration)
        del self._runs[run.spec.build]
        self._done.append(Finished(run.spec.build, result, returncode, duration))

    def _until_next_deadline(self) -> float:
        now = self._clock()
        deadlines = [run.kill_at if run.ending else run.deadline
                     for run in self._runs.values()]
        pending = [d - now for d in deadlines if d is not None]
        return max(0.0, min(pending, default=float("inf")))

    @staticmethod
    def _finish_log(log: IO[str], build: str, result: JobResult,
                    duration: float) -> None:
        log.write(f"=== build {build} {result.value} after {duration:.2f}s ===\n")
        log.close()


def _open_log(spec: BuildSpec) -> IO[str]:
    """Open the build log for appending and write its header line."""
    os.makedirs(os.path.dirname(os.path.abspath(spec.log_path)), exist_ok=True)
    log = open(spec.log_path, "a", encoding="utf-8")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log.write(f"=== build {spec.build} started {stamp} ===\n")
    # Flush so the header precedes whatever the child writes to the same file.
    log.flush()
    return log


def _check_startable(script: str) -> None:
    """Raise the OSError exec would give for `script`, before bwrap runs it:
    bwrap starts it with execvp, which runs a file exec refuses (no #! line,
    not ELF) with /bin/sh instead of failing."""
    with open(script, "rb") as f:
        head = f.read(4)
    if not os.access(script, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), script)
    if not head.startswith(b"#!") and head != b"\x7fELF":
        raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), script)


def _has_exited(pid: int) -> bool:
    """True once the child has exited, without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass    # the whole group is already gone


def _signal_followers(pgid: int, sig: int) -> None:
    """Signal every process of the group but its leader. A sandboxed build's
    leader is bwrap, which SIGTERM kills at once: the build would end, and
    its group be killed, before the job could use its grace period. bwrap
    exits by itself once the job has. A process forked during the scan of
    /proc misses the signal, and gets the SIGKILL after the grace period."""
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pgid:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                pgrp = int(f.read().rsplit(")", 1)[1].split()[2])
        except (OSError, IndexError, ValueError):
            continue        # gone meanwhile
        if pgrp == pgid:
            try:
                os.kill(int(name), sig)
            except (ProcessLookupError, PermissionError):
                pass
