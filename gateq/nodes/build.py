"""One build on a node, on a thread of its own (paramiko blocks).

Its workspace goes to the node as one tar stream on one channel (the job
script, the artifact views, and each project's tree at its commit straight
from `git archive`, no checkout made here); the job runs under the wrapper
of remote.py with the same environment contract, its paths the node's;
its output goes through a pipe into the build log as a local job's does
(buildlog.OutputPump: the same size limit); on timeout or cancel every
process of it on the node is killed. Its duration is taken on the node.
After a success, the directories it brings back (an export's artifacts/)
are copied into the local workspace before it is reported. A node that is
lost on the way ends the build as NODE_FAILURE, with the reason.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from typing import Callable

import paramiko

from ..buildlog import OutputPump, open_log, output_pipe
from ..core.types import JobResult
from ..executor import BuildSpec, Finished, footer
from . import remote
from .connection import CHUNK, NodeConnection, NodeLost, read_all
from .work import Tree

log = logging.getLogger("gateq.nodes")

POLL = 0.1                 # how often a running build looks at its deadline and cancel
CLOSE_PATIENCE = 30.0      # for its log to be finished
WORKSPACES = "gateq-builds"   # under the node user's home


class LocalTrouble(Exception):
    """Something on this side failed (a tree that cannot be archived): the job fails."""


class _ChannelWriter:
    """A write-only file over a channel, for tarfile's stream mode."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel

    def write(self, data: bytes) -> int:
        self.channel.sendall(data)
        return len(data)


class NodeBuild:
    """Invariant: `report` is called exactly once, from the build's thread,
    whatever fails; the node's processes of the build were killed before,
    unless the node was lost (then NODE_FAILURE)."""

    def __init__(self, spec: BuildSpec, connection: NodeConnection,
                 report: Callable[[Finished], None], wake: threading.Event,
                 max_output: int, kill_grace: float, clock: Callable[[], float] = time.monotonic):
        self.spec, self.work, self.connection = spec, spec.node, connection
        self.report, self.wake = report, wake
        self.max_output, self.kill_grace, self.clock = max_output, kill_grace, clock
        self.marker = uuid.uuid4().hex
        self.ending: JobResult | None = None
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"node build {spec.build}")

    def start(self) -> None:
        self.thread.start()

    def cancel(self, grace: float | None = None) -> None:
        """Stop it: SIGTERM, then SIGKILL after `grace` (the executor's by default)."""
        if grace is not None:
            self.kill_grace = min(self.kill_grace, grace)
        self.cancelled.set()

    # -- its course -----------------------------------------------------------

    def _run(self) -> None:
        spec = self.spec
        try:
            build_log = open_log(spec.log_path, spec.build)
        except OSError as exc:
            self.report(Finished(spec.build, JobResult.FAILURE, None, 0.0,
                                 f"cannot open {spec.log_path}: {exc.strerror}"))
            return
        try:
            read_end, write_end = output_pipe()
        except OSError as exc:          # no file descriptors left
            build_log.write(f"=== cannot start: {exc.strerror} ===\n".encode())
            build_log.close()
            self.report(Finished(spec.build, JobResult.FAILURE, None, 0.0, exc.strerror))
            return
        result, returncode, duration, trouble = JobResult.FAILURE, None, 0.0, None
        began = self.clock()
        pump = OutputPump(build_log, read_end, None, self.max_output, self.clock, self.wake)
        try:
            pump.start()
            result, returncode, duration = self._course(write_end)
        except NodeLost as exc:
            result, trouble, duration = JobResult.NODE_FAILURE, str(exc), self.clock() - began
        except (LocalTrouble, OSError) as exc:
            trouble = str(exc) if isinstance(exc, LocalTrouble) else f"{exc.strerror or exc}"
        except Exception as exc:        # the edge of its thread: a build must still end
            log.exception("build %s on %s", spec.build, self.connection.name)
            trouble = f"gateq failed running it: {type(exc).__name__}: {exc}"
        finally:
            os.close(write_end)
        if not pump.done.is_set():
            notes = f"=== {trouble} ===\n" if trouble else ""
            pump.finish(notes + footer(spec.build, result, duration))
            pump.done.wait(CLOSE_PATIENCE)
        self.report(Finished(spec.build, result, returncode, duration,
                             "; ".join(filter(None, [build_log.error, trouble])) or None))

    def _course(self, out: int) -> tuple[JobResult, int, float]:
        connection = self.connection
        connection.transport()                        # connected, or NodeLost
        os.write(out, f"=== on {connection.name} ===\n".encode())
        ws = f"{connection.home}/{WORKSPACES}/{self.spec.build}.{self.marker[:8]}"
        self._send(ws)
        try:
            status, duration = self._execute(ws, out)
            result = self.ending or (JobResult.SUCCESS if status == 0 else JobResult.FAILURE)
            if result is JobResult.SUCCESS:
                for name in self.work.brings_back:
                    self._bring_back(ws, name)
        finally:
            self._remove(ws)
        return result, status, duration

    def _relocated(self, ws: str) -> Callable[[str], str]:
        local = self.work.workspace.rstrip("/")

        def relocate(value: str) -> str:
            if value == local or value.startswith(local + "/"):
                return ws + value[len(local):]
            return value
        return relocate

    def _environment(self, ws: str) -> dict[str, str]:
        relocate = self._relocated(ws)
        env = {name: relocate(value) for name, value in self.spec.env.items()}
        # The configuration directory is not copied (it may hold keys): empty there.
        env["GATEQ_CONFIG_DIR"] = ""
        env["GATEQ_NODE"] = self.connection.node.name
        return env

    # -- the workspace there and back -----------------------------------------

    def _send(self, ws: str) -> None:
        """The job script, the views and each project's tree, as one tar stream."""
        channel = self.connection.open(remote.receive_workspace(ws))
        try:
            channel.settimeout(self.connection.node.connect_timeout + self.spec.timeout)
            with tarfile.open(fileobj=_ChannelWriter(channel), mode="w|",
                              format=tarfile.PAX_FORMAT) as tar:
                tar.add(self.spec.script, arcname=".gateq/job")
                for name in self.work.sends:
                    tar.add(os.path.join(self.work.workspace, name), arcname=name)
            for tree in self.work.trees:
                self._send_tree(channel, tree)
            channel.shutdown_write()
            _, err = read_all(channel)
            status = channel.recv_exit_status()
        except (paramiko.SSHException, EOFError, socket.timeout) as exc:
            raise self.connection.lost(exc) from None
        finally:
            channel.close()
        if status == -1:
            raise self.connection.lost(None)
        if status != 0:
            raise NodeLost(f"{self.connection.name}: cannot unpack the workspace: "
                           + _last_line(err))

    def _send_tree(self, channel: paramiko.Channel, tree: Tree) -> None:
        archive = subprocess.Popen(
            ["git", "-C", tree.repository, "archive", "--format=tar",
             f"--prefix=src/{tree.project}/", tree.commit],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            while chunk := archive.stdout.read(CHUNK):
                channel.sendall(chunk)
        finally:
            archive.stdout.close()
            err = archive.stderr.read()
            archive.stderr.close()
            archive.wait()
        if archive.returncode != 0:
            raise LocalTrouble(f"cannot archive {tree.project} at {tree.commit}: "
                               + _last_line(err))

    def _bring_back(self, ws: str, name: str) -> None:
        """$ws/NAME from the node into the local workspace; nothing outside it,
        nothing but plain files, directories and links inside it (tarfile's data filter)."""
        channel = self.connection.open(remote.send_dir(ws, name))
        try:
            channel.settimeout(self.connection.node.connect_timeout + self.spec.timeout)
            with tarfile.open(fileobj=channel.makefile("rb"), mode="r|") as tar:
                for member in tar:
                    if member.name == name or member.name.startswith(name + "/"):
                        tar.extract(member, self.work.workspace, filter="data")
            status = channel.recv_exit_status()
        except tarfile.TarError as exc:
            if self.connection.is_lost():
                raise self.connection.lost(exc) from None
            raise LocalTrouble(f"cannot copy {name}/ back from the node: {exc}") from None
        except (paramiko.SSHException, EOFError, socket.timeout) as exc:
            raise self.connection.lost(exc) from None
        finally:
            channel.close()
        if status != 0:
            raise self.connection.lost(None) if status == -1 else \
                LocalTrouble(f"cannot copy {name}/ back from the node (exit status {status})")

    def _remove(self, ws: str) -> None:
        try:
            self.connection.run(remote.remove_workspace(ws), timeout=60)
        except NodeLost:
            pass        # its wrapper removes it when the connection ends; else it stays

    # -- the job ----------------------------------------------------------------

    def _execute(self, ws: str, out: int) -> tuple[int, float]:
        """(exit status, seconds it ran on the node); its output copied to `out`."""
        relocate = self._relocated(ws)
        channel = self.connection.open(remote.run_job(ws, relocate(self.spec.cwd), self.marker,
                                                      self._environment(ws)))
        try:
            channel.settimeout(POLL)
            self._follow(channel, out)
            channel.settimeout(self.kill_grace + 30)
            _, err = read_all(channel)
            status = channel.recv_exit_status()
        except (paramiko.SSHException, EOFError, socket.timeout) as exc:
            raise self.connection.lost(exc) from None
        finally:
            channel.close()
        lines = err.decode(errors="replace").splitlines()
        ended = remote.parse_exit_line(lines[-1]) if lines else None
        for line in lines[:-1] if ended else lines:
            os.write(out, f"=== {line} ===\n".encode())
        if status == -1:
            raise self.connection.lost(None)
        return ended or (status, 0.0)       # the wrapper itself failed, saying why above

    def _follow(self, channel: paramiko.Channel, out: int) -> None:
        """Copy its output until the channel's stdout ends, enforcing the
        timeout and acting on a cancel meanwhile."""
        deadline = self.clock() + self.spec.timeout
        kill_at = None
        while True:
            try:
                data = channel.recv(CHUNK)
            except socket.timeout:
                data = None
            if data == b"":
                return
            if data:
                os.write(out, data)
            now = self.clock()
            if self.ending is None and now >= deadline:
                self.ending = JobResult.TIMED_OUT
                self._signal("KILL")
            elif self.ending is None and self.cancelled.is_set():
                self.ending = JobResult.CANCELLED
                self._signal("TERM")
                kill_at = now + self.kill_grace
            elif kill_at is not None and (now >= kill_at or self.kill_grace <= 0):
                kill_at = None
                self._signal("KILL")

    def _signal(self, name: str) -> None:
        status, _, err = self.connection.run(remote.kill_job(self.marker, name), timeout=60)
        if status != 0:
            raise NodeLost(f"{self.connection.name}: the build's processes would not die: "
                           + _last_line(err))


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no reason given"

