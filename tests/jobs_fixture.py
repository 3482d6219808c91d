"""Real job scripts run by a real LocalExecutor, with or without bwrap, and
a look into /proc for what is left of them.

Each spec carries a TEST_TAG of its own in its environment, so a test finds
every process of its build (host pids, also for a job inside a pid
namespace) without trusting the executor's own marker."""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable

from gateq.executor import BuildSpec, Finished, LocalExecutor
from gateq.sandbox import Sandbox, probe
from unavailable import unavailable

SANDBOXES = ["none", "bwrap"]


def require_bwrap() -> None:
    """Skip without bwrap, except in CI, where a missing bwrap fails."""
    if shutil.which("bwrap") is None:
        unavailable("needs bwrap (Debian: apt-get install bubblewrap)")


def sandbox_for(mode: str, readonly: tuple[str, ...] = ()) -> Sandbox | None:
    if mode == "none":
        return None
    require_bwrap()
    return Sandbox(probe(), readonly)


def write_script(tmp_path: Path, name: str, body: str, mode: int = 0o755) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(mode)
    return str(path)


def spec_for(tmp_path: Path, build: str, script: str, *, timeout: float = 10.0,
             env: dict[str, str] | None = None) -> BuildSpec:
    tag = f"{build}-{uuid.uuid4().hex}"
    return BuildSpec(build=build, script=script, cwd=str(tmp_path),
                     env={"TEST_TAG": tag, **(env or {})}, timeout=timeout,
                     log_path=str(tmp_path / "logs" / f"{build}.log"))


def log_text(tmp_path: Path, build: str) -> str:
    return (tmp_path / "logs" / f"{build}.log").read_text()


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


def wait_for(condition: Callable[[], object], what: str, limit: float = 10.0):
    end = time.monotonic() + limit
    while not (value := condition()):
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int) -> bool:
    """A zombie counts as dead: orphans are reparented to an init we don't
    control, which may be slow to reap them."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def tagged(spec: BuildSpec) -> list[int]:
    """Live processes (host pids) carrying the spec's TEST_TAG."""
    entry = f"TEST_TAG={spec.env['TEST_TAG']}".encode()
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if entry in f.read().split(b"\0") and alive(int(name)):
                    found.append(int(name))
        except OSError:
            pass
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def session_and_parent(pid: int) -> tuple[int, int] | None:
    fields = _stat(pid)
    return (int(fields[3]), int(fields[1])) if fields else None


def assert_all_gone(pids: list[int], limit: float = 2.0) -> None:
    end = time.monotonic() + limit
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < end, [p for p in pids if alive(p)]
        time.sleep(0.01)


def wait_for_pids(path: Path, count: int, limit: float = 5.0) -> list[int]:
    """Pids a job wrote into `path` (unsandboxed jobs only: in a pid
    namespace a job knows only its namespace's pids)."""
    def read() -> list[int] | None:
        pids = [int(line) for line in path.read_text().split()] if path.exists() else []
        return pids if len(pids) >= count else None
    return wait_for(read, f"{count} pids in {path}", limit)
