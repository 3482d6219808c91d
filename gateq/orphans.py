"""Builds left running by an engine that was killed.

While a build runs, `<state>/run/<build>` holds its marker and the pid the
executor started (gateq/processes.py says how these find its processes,
sessions left and double forks included). The next engine kills whatever
they find, and waits until it is gone, before it runs the builds again, so
two copies of one build never race in the same workspace. The marker is
unique to one run of one build, so another gate's processes, or a process
that got a recycled pid, are left alone.

Under bwrap a killed engine's builds die with it (`--die-with-parent`); the
records still matter without a sandbox, where they survive it.
"""
from __future__ import annotations

import os
import signal
import time

from . import processes
from .processes import Leader


def run_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "run")


def note(directory: str, build: str, leader: Leader) -> None:
    """Record how to find the build's processes; raises OSError if it cannot."""
    os.makedirs(directory, exist_ok=True)
    pid, started = ("" if n is None else str(n) for n in (leader.pid, leader.started))
    with open(os.path.join(directory, build), "w") as f:
        f.write(f"{leader.marker}\n{pid}\n{started}\n")


def forget(directory: str, build: str) -> None:
    try:
        os.unlink(os.path.join(directory, build))
    except FileNotFoundError:
        pass


def kill_leftovers(state_dir: str, patience: float = 10.0) -> list[str]:
    """Kill every recorded build's processes still alive, wait up to
    `patience` seconds for them to be gone, forget the records; return the
    builds that had processes left."""
    directory = run_dir(state_dir)
    builds = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    leaders = {build: _read(directory, build) for build in builds}
    killed = [build for build, leader in leaders.items()
              if isinstance(leader, Leader) and _kill(leader, patience)]
    killed += [build for build, leader in leaders.items()
               if isinstance(leader, int) and _kill_legacy_group(leader, build)]
    for build in builds:
        forget(directory, build)
    return sorted(killed)


def _read(directory: str, build: str) -> Leader | int | None:
    """The record's leader; a bare pid for a record an older engine wrote;
    None for one cut short by a crash before it named anything."""
    try:
        with open(os.path.join(directory, build), errors="replace") as f:
            lines = f.read().split("\n")
    except OSError:
        return None
    if len(lines) == 1 and lines[0].strip().isdigit():
        return int(lines[0])
    if not lines[0]:
        return None
    pid, started = (int(n) if n.isdigit() else None for n in (lines[1:] + ["", ""])[:2])
    return Leader(pid, lines[0], started)


def _kill(leader: Leader, patience: float) -> bool:
    """SIGKILL the build's processes until none is left or patience runs out."""
    deadline = time.monotonic() + patience
    found = processes.of_build(processes.snapshot(since=leader.started), leader)
    had_any = bool(found)
    while found and time.monotonic() < deadline:
        processes.send(found, signal.SIGKILL)
        time.sleep(0.01)
        found = processes.of_build(processes.snapshot(since=leader.started), leader)
    return had_any


def _kill_legacy_group(pid: int, build: str) -> bool:
    """An older engine recorded the group only; its leader carried GATEQ_BUILD."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"GATEQ_BUILD={build}".encode() not in f.read().split(b"\0"):
                return False
        os.killpg(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        return False
    return True
