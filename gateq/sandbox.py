"""The bubblewrap command line that keeps what gateq publishes out of a job's reach.

A sandboxed job sees the host's filesystem as it is, except that the paths
the engine protects (its state directory, the publish root) are read-only,
its own workspace is writable inside them, and its views are read-only again
inside the workspace. Each build has a pid namespace of its own, so nothing
it starts outlives it. `choose` decides once per engine whether builds get one.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass

from .config.model import SandboxMode

INSTALL = "Debian: apt-get install bubblewrap"
# A pid namespace per build, killed with its job's main process and its engine.
PROCESS_OPTIONS = ("--unshare-pid", "--die-with-parent")
# Mounted after the host's / so that it covers the host's /proc.
PROC_OPTIONS = ("--proc", "/proc")


class Unavailable(Exception):
    """bwrap cannot sandbox builds here; the message says why, in one line."""


@dataclass(frozen=True)
class Sandbox:
    """bwrap at `bwrap` making `readonly` read-only for every build.

    Mostly only mounts change: user, capabilities, network and environment
    stay the host's. bwrap adds no_new_privs and nosuid (setuid programs do
    not elevate) and, under a non-root engine, a user namespace mapping the
    engine's own uid.

    Processes: the job runs in a pid namespace of its own, with its own
    /proc, so it sees only its own processes and none can leave it (setsid
    and double forks included). Its init is bwrap, which `--die-with-parent`
    ties to the outer bwrap and that to the engine's thread that started it:
    when the job's main process exits, the outer bwrap exits and the kernel
    kills all that is left in the namespace; when the engine dies, even by
    SIGKILL, so do its builds.
    """
    bwrap: str
    readonly: tuple[str, ...]

    def command(self, argv: list[str], cwd: str, writable: tuple[str, ...] = (),
                readonly: tuple[str, ...] = ()) -> list[str]:
        """`argv` run in the sandbox: the engine's read-only paths, then the
        build's `writable` paths inside them, then its `readonly` paths inside
        those. Later mounts cover earlier ones, hence the order."""
        args = [self.bwrap, *PROCESS_OPTIONS, "--dev-bind", "/", "/"]
        for path in self.readonly:
            args += _mount("--ro-bind-try", path)
        for path in writable:
            args += _mount("--bind", path)
        for path in readonly:
            args += _mount("--ro-bind-try", path)
        return args + [*PROC_OPTIONS, "--chdir", cwd, "--", *argv]


def check_startable(script: str) -> None:
    """Raise the OSError exec would give for `script`, before bwrap runs it:
    bwrap starts it with execvp, which runs a file exec refuses (no #! line,
    not ELF) with /bin/sh instead of failing."""
    with open(script, "rb") as f:
        head = f.read(4)
    if not os.access(script, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), script)
    if not head.startswith(b"#!") and head != b"\x7fELF":
        raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), script)


def _mount(option: str, path: str) -> list[str]:
    # Symlinks resolved: a mount covers the real directory, which is where
    # the views' links into the pool lead.
    real = os.path.realpath(path)
    return [option, real, real]


def probe() -> str:
    """The path of a bwrap that can make a read-only mount and a pid
    namespace here; raises Unavailable otherwise (not installed, or no
    namespaces for it)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise Unavailable(f"bwrap is not installed ({INSTALL})")
    try:
        done = subprocess.run([bwrap, *PROCESS_OPTIONS, "--dev-bind", "/", "/", "--ro-bind", "/", "/",
                               *PROC_OPTIONS, "--", "true"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"bwrap cannot run: {exc}")
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise Unavailable("bwrap cannot create its sandbox: "
                          + (said[-1] if said else f"exit status {done.returncode}"))
    return bwrap


def choose(mode: SandboxMode, readonly: tuple[str, ...]) -> tuple[Sandbox | None, str | None]:
    """The sandbox builds run in under `mode`, and a warning if `auto` runs
    them without one. `bwrap` was probed when the configuration was loaded."""
    if mode is SandboxMode.NONE:
        return None, None
    if mode is SandboxMode.BWRAP:
        return Sandbox(shutil.which("bwrap") or "bwrap", readonly), None
    try:
        return Sandbox(probe(), readonly), None
    except Unavailable as exc:
        return None, (f"builds run without a sandbox, so a job can damage the artifact store "
                      f"and published snapshots: {exc}; set executor.sandbox: none in gateq.yaml "
                      f"to run unsandboxed without this warning")
