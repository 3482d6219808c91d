"""Moving the few objects a merge made from one repository to another
without a connection between them: a thin pack of what the receiver lacks
(it holds everything the merge started from), unpacked there as loose
objects, as git's receive-pack does with a small push."""
from __future__ import annotations

import subprocess

from .repo import GitError, first_line, git_env


def thin_pack(path: str, new: list[str], known: list[str]) -> bytes:
    """The objects reachable from `new` and not from `known`, deltas
    allowed against the known ones."""
    revs = "".join(f"{c}\n" for c in new) + "".join(f"^{c}\n" for c in known)
    proc = _git(path, ["pack-objects", "--stdout", "--revs", "--thin", "-q"], revs.encode())
    return proc.stdout


def unpack(path: str, pack: bytes) -> None:
    """Add a thin pack's objects to the repository (its delta bases are there)."""
    _git(path, ["unpack-objects", "-q"], pack)


def _git(path: str, args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(["git", "-C", path, *args], input=stdin, capture_output=True,
                              env=git_env())
    except OSError as exc:
        raise GitError(f"cannot run git in {path}: {exc.strerror}") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {path}: "
                       f"{first_line(proc.stderr.decode(errors='replace'))}")
    return proc
