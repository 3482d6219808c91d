"""Builds left running by an engine that was killed.

Each running build's process group id is noted in `<state>/run/<build>`;
the next engine kills those groups before it runs the builds again, so two
copies of one build never race in the same workspace. A group is killed only
if its leader still carries that build's GATEQ_BUILD, so a recycled pid is
left alone.
"""
from __future__ import annotations

import os
import signal


def note(state_dir: str, build: str, pid: int) -> None:
    os.makedirs(os.path.join(state_dir, "run"), exist_ok=True)
    with open(os.path.join(state_dir, "run", build), "w") as f:
        f.write(str(pid))


def forget(state_dir: str, build: str) -> None:
    try:
        os.unlink(os.path.join(state_dir, "run", build))
    except FileNotFoundError:
        pass


def kill_leftovers(state_dir: str) -> list[str]:
    """Kill every noted build group still alive; return the builds killed."""
    killed = []
    run_dir = os.path.join(state_dir, "run")
    for build in sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else ():
        with open(os.path.join(run_dir, build)) as f:
            pid = int(f.read().strip() or 0)
        if pid and _is_build(pid, build):
            try:
                os.killpg(pid, signal.SIGKILL)
                killed.append(build)
            except ProcessLookupError:
                pass
        forget(state_dir, build)
    return killed


def _is_build(pid: int, build: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"GATEQ_BUILD={build}".encode() in f.read().split(b"\0")
    except OSError:
        return False
