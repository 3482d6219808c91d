"""Every process of one build, found in /proc, and signals sent to exactly those.

A build's processes are those whose environment carries its marker
(GATEQ_BUILD_MARKER, unique to one run of one build), those in the session
or process group of the process the executor started, and every descendant
of these. In a pid namespace (bwrap) orphans are reparented to its init,
itself a descendant of the executor's process, so all of it is found.

What cannot be found without a pid namespace: a process that dropped the
marker (`env -i`, an exec with a new environment), left the session and
group, and descends from none of the above, such as `env -i setsid daemon`
after a double fork. With or without: a process another service starts for
the job (systemd-run, at, ssh to localhost); and, for an engine that is not
root, one whose environment it may not read (a setuid program), which it
could not signal anyway.

The engine is not made a child subreaper (PR_SET_CHILD_SUBREAPER): orphans
reparented to it would say no more about whose they are, it would have to
reap every orphan of its subtree (git's detached `gc --auto` among them),
and reaping children it did not start steals their status from subprocess,
which then reads it as success.
"""
from __future__ import annotations

import errno
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Iterable

MARKER_VARIABLE = "GATEQ_BUILD_MARKER"
_MARKER_ENTRY = f"{MARKER_VARIABLE}=".encode()


def new_marker(build: str) -> str:
    """A marker no other run of any build, of this gate or another, carries."""
    return f"{build}.{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Leader:
    """How to find a build's processes: the marker they carry, and the
    process the executor started (None until it has): its pid, whose
    session and process group they may stay in, and its start time, before
    which none of them started."""
    pid: int | None
    marker: str
    started: int | None = None


@dataclass(frozen=True)
class Proc:
    """One process as /proc showed it. (pid, starttime) names one process
    for ever, even after its pid is recycled; starttime is in clock ticks
    since boot."""
    pid: int
    ppid: int
    pgrp: int
    session: int
    starttime: int
    zombie: bool
    marker: str | None       # None: none, not read, or an environment we may not read


Table = dict[int, Proc]


def snapshot(since: int | None = None) -> Table:
    """Every process of the host, read from /proc; those gone meanwhile are
    left out. Environments are read only of processes started at `since`
    or later: the host's older processes cannot carry a build's marker."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _read(int(name), since)
            if proc is not None:
                table[proc.pid] = proc
    return table


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def of_build(table: Table, leader: Leader, group_pinned: bool = False) -> list[Proc]:
    """The build's processes that are still alive (zombies are dead), as
    described at the top of this module. `group_pinned`: the leader is the
    caller's own child, not yet reaped, so its pid names the build's group
    and session even while its environment cannot be read (bwrap makes it
    unreadable for a moment while it sets up)."""
    seeds = {p.pid for p in table.values() if p.marker == leader.marker}
    if leader.pid is not None and (group_pinned or _group_is_the_builds(table, leader)):
        seeds |= {p.pid for p in table.values() if leader.pid in (p.pgrp, p.session)}
    found = _with_descendants(table, seeds)
    found.discard(os.getpid())
    return [table[pid] for pid in sorted(found) if not table[pid].zombie]


def send(procs: Iterable[Proc], sig: int) -> None:
    """Signal each process if it is still the one the snapshot saw: its
    start time is checked through a pidfd, so a recycled pid is left alone."""
    for proc in procs:
        try:
            _send_one(proc, sig)
        except (ProcessLookupError, PermissionError):
            pass            # gone meanwhile, or not ours to signal


def wait_gone(procs: Iterable[Proc], limit: float) -> None:
    """Give signalled processes up to `limit` seconds to die."""
    end = time.monotonic() + limit
    while time.monotonic() < end and any(alive(p) for p in procs):
        time.sleep(0.0005)


def alive(proc: Proc) -> bool:
    """True while the process the snapshot saw runs (a zombie is dead)."""
    fields = _stat(proc.pid)
    return fields is not None and fields[0] not in (b"Z", b"X") and int(fields[19]) == proc.starttime


def _send_one(proc: Proc, sig: int) -> None:
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return
        # No pidfd (Linux < 5.3, or no descriptor left): a tiny window remains.
        if start_time(proc.pid) == proc.starttime:
            os.kill(proc.pid, sig)
        return
    try:
        if start_time(proc.pid) == proc.starttime:
            signal.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def _group_is_the_builds(table: Table, leader: Leader) -> bool:
    """The leader's pid names the build's group and session while the leader
    lives or any member remains (the kernel pins it). Once the pid belongs to
    another process (another start time, no marker), it was recycled."""
    holder = table.get(leader.pid)
    return (holder is None or holder.zombie or holder.marker == leader.marker
            or (leader.started is not None and holder.starttime == leader.started))


def _with_descendants(table: Table, seeds: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = set(seeds), list(seeds)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _read(pid: int, since: int | None) -> Proc | None:
    fields = _stat(pid)
    if fields is None:
        return None         # gone meanwhile
    starttime = int(fields[19])
    return Proc(pid=pid, ppid=int(fields[1]), pgrp=int(fields[2]), session=int(fields[3]),
                starttime=starttime, zombie=fields[0] in (b"Z", b"X"),
                marker=_marker(pid) if since is None or starttime >= since else None)


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name, which may hold anything."""
    data = _read_file(f"/proc/{pid}/stat")
    fields = data.rsplit(b")", 1)[-1].split() if data else []
    return fields if len(fields) > 19 else None


def _marker(pid: int) -> str | None:
    environ = b"\0" + (_read_file(f"/proc/{pid}/environ") or b"")
    start = environ.find(b"\0" + _MARKER_ENTRY)
    if start < 0:
        return None         # none, or a kernel thread, a zombie, another user's process, gone
    start += 1 + len(_MARKER_ENTRY)
    end = environ.find(b"\0", start)
    return environ[start:end if end >= 0 else None].decode(errors="replace")


def _read_file(path: str) -> bytes | None:
    """The whole of a small /proc file, with plain system calls: a snapshot
    reads two per process, so the cost of Python's file objects shows."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


# -- the leader: the executor's own child, not reaped before its build ends --

def pidfd(pid: int) -> int | None:
    """A pidfd for the child, which tells its log's thread when it exits;
    None where the kernel has none (the exit is then noticed by `poll`)."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def has_exited(pid: int) -> bool:
    """True once the child has exited, without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def exited_by_itself(pid: int) -> bool:
    """The exited child called exit (was not killed by a signal); not reaped."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return info is not None and info.si_code == os.CLD_EXITED


def reap(proc: subprocess.Popen) -> int | None:
    """The exited child's status, read before reaping it: Popen.wait would
    call a child someone else reaped a success."""
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        return None
    proc.wait()
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def kill_group(pid: int) -> None:
    """SIGKILL the leader's group: the fallback when its processes cannot be looked up."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
