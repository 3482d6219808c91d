"""Run job scripts as local processes for a single-threaded engine loop.

`start` never blocks and `poll` reports builds that ended since the last
call, so the loop stays responsive. A build ends when its script exits, or
when it is killed on timeout, cancel or shutdown; then every process it
started is killed (gateq/processes.py finds them: its session and group,
the marker in their environment, its pid namespace), and only once none is
left is it reported, with the time its script ran. Its output reaches the
log through a pipe and a thread of its own, capped in size
(gateq/buildlog.py). With a sandbox, the script runs under bwrap in a pid
namespace of its own; a build with overlays (its checkouts over kept ones)
first gets a mount namespace where they are mounted (gateq/sandbox.py).
A build whose spec names a node label runs on a node instead, through the
node pool given by `use_nodes` (gateq/nodes), reported by the same `poll`.
"""
from __future__ import annotations

import enum
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from . import orphans, processes
from .buildlog import DEFAULT_MAX_OUTPUT, BuildLog, OutputPump, open_log, output_pipe
from .core.types import JobResult
from .processes import MARKER_VARIABLE, Leader
from .nodes.work import NodeWork
from .sandbox import Overlay, Sandbox, check_startable, overlay_command

# How often `wait` looks at the children when no pidfd wakes it, and how
# often a build's leftovers are looked for again while they die.
_WAIT_STEP = 0.02
# How long a build's leftovers may take to die after SIGKILL (a process in
# uninterruptible sleep), and its log to be finished, before it is reported anyway.
_CLEAR_PATIENCE = 30.0
_CLOSE_PATIENCE = 30.0


@dataclass(frozen=True)
class BuildSpec:
    """Everything needed to run one build; `env` is merged over os.environ.
    In a sandbox, `writable` paths are writable inside its read-only ones,
    and `readonly` paths read-only again inside those. `overlays` are mounted
    for it alone (its checkouts over kept ones, git/workspace.py)."""
    build: str
    script: str
    cwd: str
    env: Mapping[str, str]
    timeout: float
    log_path: str
    writable: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()
    overlays: tuple[Overlay, ...] = ()
    node: NodeWork | None = None        # set: it runs on a node with that label


@dataclass(frozen=True)
class Finished:
    """A build that ended. `returncode` is None if the script never started
    (or its status was lost); `duration` runs from its start to its exit;
    `error` says what went wrong around the job rather than in it (its log
    could not be written in full, its leftovers would not die), if anything."""
    build: str
    result: JobResult
    returncode: int | None
    duration: float
    error: str | None = None


class _Phase(enum.Enum):
    RUNNING = "running"      # the script runs
    CLEARING = "clearing"    # it has exited: what it left behind is being killed
    CLOSING = "closing"      # nothing of it is left: its log is being finished


# A build goes through its phases in order, then is reported; RUNNING goes
# straight to CLOSING only when /proc cannot be read (see `_guarded`).
_NEXT_PHASES = {_Phase.RUNNING: {_Phase.CLEARING, _Phase.CLOSING},
                _Phase.CLEARING: {_Phase.CLOSING}, _Phase.CLOSING: set()}


@dataclass
class _Run:
    """One build not yet reported. `ending` records why we killed it, if we
    did: the first reason wins, so a timed-out build cancelled later stays
    timed out."""
    spec: BuildSpec
    proc: subprocess.Popen
    leader: Leader
    pump: OutputPump
    started: float
    phase: _Phase = _Phase.RUNNING
    ending: JobResult | None = None
    kill_at: float | None = None      # when a SIGTERMed build gets SIGKILL
    noticed_exit: float | None = None  # when poll saw the script had exited
    give_up_at: float = 0.0           # time.monotonic() past which the phase ends anyway
    result: JobResult = JobResult.FAILURE
    returncode: int | None = None
    duration: float = 0.0
    trouble: list[str] = field(default_factory=list)
    contained: bool = False           # in a pid namespace of its own (the sandbox's)

    @property
    def deadline(self) -> float:
        return self.started + self.spec.timeout


class LocalExecutor:
    """Starts, watches and kills build processes.

    Invariants: a build id is in `running()` from `start` until `poll`
    reports it, and is reported exactly once, whatever fails on the way
    (its log's disk filling up included). A build's leader is reaped only
    once nothing of the build is left, so its pid still names the build's
    group and session whenever we signal them. `start` must be called from
    a thread that outlives the builds: a sandboxed build dies with the
    thread that started it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 *, kill_grace: float = 5.0, sandbox: Sandbox | None = None,
                 max_output: int = DEFAULT_MAX_OUTPUT, run_dir: str | None = None) -> None:
        self._clock = clock
        self._kill_grace = kill_grace
        self._sandbox = sandbox
        self._max_output = max_output
        self._run_dir = run_dir         # where orphans.py records running builds
        self._runs: dict[str, _Run] = {}
        self._done: list[Finished] = []
        self._wake = threading.Event()
        self._nodes = None              # a nodes.pool.NodePool, once use_nodes is called

    def use_nodes(self, nodes) -> None:
        """Run the builds that name a node label on `nodes` (NodeSettings)."""
        from .nodes.pool import NodePool     # paramiko, only where nodes are used
        self._nodes = NodePool(tuple(nodes), self._wake, max_output=self._max_output,
                               kill_grace=self._kill_grace)

    def start(self, spec: BuildSpec) -> None:
        """Launch `spec.script`; a script that cannot be started is
        reported as FAILURE by the next `poll`, with the reason in its log.
        A build for a node waits there for a free one."""
        if spec.build in self._runs:
            raise ValueError(f"build {spec.build} is already running")
        if spec.node is not None:
            if self._nodes is None:
                raise ValueError(f"build {spec.build} needs a node and none is configured")
            self._nodes.start(spec)
            return
        try:
            log = open_log(spec.log_path, spec.build)
        except OSError as exc:
            self._done.append(Finished(spec.build, JobResult.FAILURE, None, 0.0,
                                       f"cannot open {spec.log_path}: {exc.strerror}"))
            return
        leader = Leader(None, processes.new_marker(spec.build))
        try:
            self._note(spec.build, leader)     # first: a crash right after the fork is covered
            self._runs[spec.build] = self._launch(spec, leader, log)
        except (OSError, RuntimeError) as exc:    # RuntimeError: no thread for its log
            log.write(f"cannot start {spec.script}: {exc}\n".encode())
            log.write(footer(spec.build, JobResult.FAILURE, 0.0).encode())
            log.close()
            self._forget(spec.build)
            self._done.append(Finished(spec.build, JobResult.FAILURE, None, 0.0, log.error))

    def cancel(self, build: str) -> None:
        """Ask the build's processes to stop (SIGTERM); `poll` escalates to
        SIGKILL after the grace period. Unknown or finished builds: no-op."""
        if self._nodes is not None and build not in self._runs:
            self._nodes.cancel(build)
            return
        run = self._runs.get(build)
        if run is None or run.ending is not None or run.phase is _Phase.CLOSING:
            return
        run.ending = JobResult.CANCELLED
        run.kill_at = self._clock() + self._kill_grace
        if run.phase is _Phase.RUNNING:
            self._guarded(run, self._terminate)

    def poll(self) -> list[Finished]:
        """Enforce timeouts and grace periods, and return builds that ended."""
        now = self._clock()
        for run in list(self._runs.values()):
            self._advance(run, now)
        done, self._done = self._done, []
        return done + (self._nodes.poll() if self._nodes is not None else [])

    def running(self) -> list[str]:
        return list(self._runs) + (self._nodes.running() if self._nodes is not None else [])

    def wait(self, timeout: float) -> None:
        """Sleep until a build may have ended or needs a kill, at most
        `timeout` seconds; the caller then calls `poll`."""
        end = time.monotonic() + min(timeout, self._until_next_deadline())
        while True:
            self._wake.clear()
            left = end - time.monotonic()
            if self._ready() or left <= 0:
                return
            self._wake.wait(min(left, _WAIT_STEP))

    def shutdown(self, patience: float = 5.0) -> None:
        """Kill every build, waiting at most `patience` seconds for their
        processes to be gone; they are reported as CANCELLED (unless already
        ending otherwise) by a later `poll`. Never raises."""
        for run in list(self._runs.values()):
            run.ending = run.ending or JobResult.CANCELLED
            run.kill_at = None
            if run.phase is _Phase.RUNNING:
                self._guarded(run, self._kill)
        if self._nodes is not None:
            self._nodes.shutdown(patience)
        end = time.monotonic() + patience
        while self._runs and time.monotonic() < end:
            for run in list(self._runs.values()):
                self._advance(run, self._clock())
            self._wake.wait(_WAIT_STEP / 4)
            self._wake.clear()
        for run in list(self._runs.values()):
            run.trouble.append(f"still {run.phase.value} when the engine stopped")
            self._report(run)

    # -- one build's course ----------------------------------------------------

    def _launch(self, spec: BuildSpec, leader: Leader, log: BuildLog) -> _Run:
        argv = [spec.script]
        if self._sandbox or spec.overlays:
            check_startable(spec.script)
        if self._sandbox:
            argv = self._sandbox.command(argv, spec.cwd, spec.writable, spec.readonly)
        if spec.overlays:
            argv = overlay_command(spec.overlays, argv, spec.cwd)
        read_end, write_end = output_pipe()
        try:
            started = self._clock()
            proc = subprocess.Popen(
                argv, cwd=spec.cwd, env={**os.environ, **spec.env, MARKER_VARIABLE: leader.marker},
                stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end,
                start_new_session=True)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        try:
            pump = OutputPump(log, read_end, processes.pidfd(proc.pid), self._max_output,
                              self._clock, self._wake)
            pump.start()
        except BaseException:       # no thread or no descriptor left for its log
            os.close(read_end)
            processes.kill_group(proc.pid)
            proc.wait()
            raise
        run = _Run(spec, proc, Leader(proc.pid, leader.marker, processes.start_time(proc.pid)),
                   pump, started, contained=self._sandbox is not None)
        try:
            self._note(spec.build, run.leader)
        except OSError:
            pass        # the marker, recorded before the start, is enough to find them
        return run

    def _advance(self, run: _Run, now: float) -> None:
        if run.phase is _Phase.RUNNING:
            self._guarded(run, lambda run: self._watch(run, now))
        if run.phase is _Phase.CLEARING:
            self._guarded(run, self._clear)
        if run.phase is _Phase.CLOSING and (
                run.pump.done.is_set() or time.monotonic() >= run.give_up_at):
            self._report(run)

    def _watch(self, run: _Run, now: float) -> None:
        if processes.has_exited(run.proc.pid):
            run.noticed_exit = now
            self._enter(run, _Phase.CLEARING, _CLEAR_PATIENCE)
        elif run.ending is None and now >= run.deadline:
            run.ending = JobResult.TIMED_OUT
            self._kill(run)
        elif run.kill_at is not None and now >= run.kill_at:
            run.kill_at = None
            self._kill(run)

    def _clear(self, run: _Run) -> None:
        """Kill what the script left behind; close the build once nothing is left.

        A sandboxed build whose leader (the outer bwrap) exited by itself
        left nothing: its namespace's init exited first, and the kernel
        killed the rest of the namespace and waited for it before that. The
        scan of /proc (milliseconds, more on a busy host) is then skipped;
        a build we killed is looked for anyway (the namespace dies after
        its leader, through --die-with-parent)."""
        if run.contained and run.ending is None and processes.exited_by_itself(run.proc.pid):
            self._close(run)
            return
        for _ in range(3):
            left = _processes(run)
            if not left:
                break
            processes.send(left, signal.SIGKILL)
            processes.wait_gone(left, _WAIT_STEP / 2)
        else:
            if time.monotonic() < run.give_up_at:
                return                  # dying: look again at the next poll
            run.trouble.append("processes " + ", ".join(str(p.pid) for p in left)
                               + " did not die after SIGKILL")
        self._close(run)

    def _close(self, run: _Run) -> None:
        """Reap the leader, decide the result and have the log finished."""
        run.returncode = processes.reap(run.proc)
        if run.returncode is None and run.ending is None:
            run.trouble.append("the script's exit status was lost")
        run.result = run.ending or (
            JobResult.SUCCESS if run.returncode == 0 else JobResult.FAILURE)
        exited = run.pump.exited_at if run.pump.exited_at is not None else run.noticed_exit
        run.duration = max(0.0, (exited if exited is not None else self._clock()) - run.started)
        self._enter(run, _Phase.CLOSING, _CLOSE_PATIENCE)
        notes = "".join(f"=== {trouble} ===\n" for trouble in run.trouble)
        run.pump.finish(notes + footer(run.spec.build, run.result, run.duration))

    def _report(self, run: _Run) -> None:
        """The one way out of the table, whatever state the build is in."""
        del self._runs[run.spec.build]
        if run.phase is not _Phase.CLOSING:         # shutdown ran out of patience
            run.result, run.returncode = run.ending or JobResult.FAILURE, None
            run.pump.finish(footer(run.spec.build, run.result, run.duration))
        log_error = run.pump.log.error if run.pump.done.is_set() else (
            f"{run.spec.log_path} was still being written when the build was reported")
        self._forget(run.spec.build)
        self._done.append(Finished(run.spec.build, run.result, run.returncode, run.duration,
                                   "; ".join(filter(None, [log_error, *run.trouble])) or None))

    def _enter(self, run: _Run, phase: _Phase, patience: float) -> None:
        assert phase in _NEXT_PHASES[run.phase], f"{run.phase} -> {phase}"
        run.phase = phase
        run.give_up_at = time.monotonic() + patience

    def _guarded(self, run: _Run, step: Callable[[_Run], None]) -> None:
        """Run one step of a build; if the system fails it (no /proc, no
        file descriptors left), the build's group is killed and the build
        still ends, saying why."""
        try:
            step(run)
        except OSError as exc:
            run.trouble.append(f"{exc.strerror or exc} while ending the build")
            processes.kill_group(run.proc.pid)
            if run.phase is not _Phase.CLOSING:
                self._close(run)

    # -- signals -------------------------------------------------------------

    def _terminate(self, run: _Run) -> None:
        """SIGTERM every process of the build but the outer bwrap, which
        would take the whole sandbox with it at once, leaving the job no
        grace period. (The namespace's init, bwrap too, ignores it.)"""
        found = _processes(run)
        if self._sandbox:
            found = [p for p in found if p.pid != run.proc.pid]
        processes.send(found, signal.SIGTERM)

    def _kill(self, run: _Run) -> None:
        processes.send(_processes(run), signal.SIGKILL)

    # -- waiting ---------------------------------------------------------------

    def _ready(self) -> bool:
        return bool(self._done) or (self._nodes is not None and self._nodes.ready()) or any(
            (run.phase is _Phase.RUNNING and processes.has_exited(run.proc.pid))
            or (run.phase is _Phase.CLOSING and run.pump.done.is_set())
            for run in self._runs.values())

    def _until_next_deadline(self) -> float:
        now = self._clock()
        pending = []
        for run in self._runs.values():
            if run.phase is not _Phase.RUNNING:
                pending.append(_WAIT_STEP)
            elif (run.kill_at if run.ending else run.deadline) is not None:
                pending.append((run.kill_at if run.ending else run.deadline) - now)
        return max(0.0, min(pending, default=float("inf")))

    # -- orphan records ----------------------------------------------------------

    def _note(self, build: str, leader: Leader) -> None:
        if self._run_dir is not None:
            orphans.note(self._run_dir, build, leader)

    def _forget(self, build: str) -> None:
        if self._run_dir is not None:
            try:
                orphans.forget(self._run_dir, build)
            except OSError:
                pass        # nothing of the build is alive: a stale record harms no one


def _processes(run: _Run) -> list[processes.Proc]:
    """The build's live processes. Its leader is not reaped before the build
    is closed, so its pid still names the build's group and session."""
    return processes.of_build(processes.snapshot(since=run.leader.started), run.leader,
                              group_pinned=True)


def footer(build: str, result: JobResult, duration: float) -> str:
    """A build log's last line, wherever the build ran."""
    return f"=== build {build} {result.value} after {duration:.2f}s ===\n"
