"""The bubblewrap command line that keeps what gateq publishes out of a job's reach.

A sandboxed job sees the host's filesystem as it is, except that the paths
the engine protects (its state directory, the publish root) are read-only,
its own workspace is writable inside them, and its views are read-only again
inside the workspace. Each build has a pid namespace of its own, so nothing
it starts outlives it. `choose` decides once per engine whether builds get one.
Apart from it, and whether or not there is one, a build's checkouts can be
overlays over kept ones, mounted by `overlay_command` in a mount namespace of
the build's own (git/workspace.py probes once whether they can be here).
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


# -- overlays: a build's checkout as its own layer over a kept one -----------------

# A shell that writes the overlays' table (FSTAB TEXT) and mounts them all
# with one `mount --all`, one process per build (not one per project), then
# enters CWD (the mounts cover it) and runs the rest. Unprivileged, it runs as
# root of a user namespace of its own and maps the engine's user back after.
_MOUNT_SCRIPT = """\
if [ -n "$2" ]; then
    printf '%s' "$2" > "$1" && mount --all --fstab "$1" || exit 126
fi
cd "$3" || exit 126; shift 3
exec "$@"
"""
# Where the table goes: beside the first overlay's upper layer, in the
# build's own layer directory (removed with it).
FSTAB = ".gateq-fstab"
# Characters mount's option list cannot carry in a path.
_UNMOUNTABLE = (",", ":", "\\")


@dataclass(frozen=True)
class Overlay:
    """`target` shows `lower` read-only, under `layers` (read-only too, the
    first one on top), with the build's writes in `upper` (`work` is
    overlayfs's scratch directory beside it)."""
    lower: str
    upper: str
    work: str
    target: str
    layers: tuple[str, ...] = ()


def overlay_command(overlays: tuple[Overlay, ...], argv: list[str], cwd: str) -> list[str]:
    """`argv` run in a mount namespace of its own where `overlays` are mounted.
    Every process is exec'ed in turn, so the pid the executor holds stays the
    build's leader (bwrap's, when `argv` is a sandbox's command)."""
    if os.geteuid() == 0:
        unshare, opts, back = ["unshare", "--mount", "--propagation", "private"], "", []
    else:
        unshare, opts = ["unshare", "--user", "--map-root-user", "--mount"], ",userxattr"
        back = ["unshare", "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}", "--"]
    table = "".join(f"overlay {_escaped(o.target)} overlay "
                    f"lowerdir={':'.join(_escaped(p) for p in (*o.layers, o.lower))},"
                    f"upperdir={_escaped(o.upper)},workdir={_escaped(o.work)}{opts} 0 0\n"
                    for o in overlays)
    where = os.path.join(os.path.dirname(overlays[0].upper), FSTAB) if overlays else ""
    return [*unshare, "--", "sh", "-c", _MOUNT_SCRIPT, "sh", where, table, cwd, *back, *argv]


def _escaped(path: str) -> str:
    """A path as a field of an fstab line (whitespace is its separator)."""
    for char, code in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        path = path.replace(char, code)
    return path


def mountable(path: str) -> bool:
    return not any(c in path for c in _UNMOUNTABLE)


def probe_overlays(scratch: str) -> str | None:
    """Why overlays cannot be mounted for builds here (a one-line reason),
    or None when they can: tried once, in `scratch`, on the state's filesystem."""
    if not mountable(scratch):
        return f"{scratch} has a character mount options cannot carry"
    dirs = {name: os.path.join(scratch, name) for name in ("lower", "upper", "work", "target")}
    try:
        for path in dirs.values():
            os.makedirs(path, exist_ok=True)
        with open(os.path.join(dirs["lower"], "seen"), "w") as f:
            f.write("lower\n")
    except OSError as exc:
        return f"cannot try overlays in {scratch}: {exc.strerror}"
    argv = overlay_command((Overlay(**dirs),), ["sh", "-c", "cat seen && echo up > wrote"],
                           dirs["target"])
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run unshare: {exc}"
    if done.returncode != 0 or done.stdout != "lower\n" \
            or not os.path.exists(os.path.join(dirs["upper"], "wrote")):
        said = done.stderr.strip().splitlines()
        return "overlayfs cannot be mounted: " + (said[-1] if said else
                                                  f"exit status {done.returncode}")
    return None
