"""How long build logs and leftover workspaces stay on disk.

`<state>/logs/<build>.log` and `<state>/work/<build>` are removed once the
build is older than `logs.keep-days`, or not among the newest
`logs.keep-count` builds (either may be None: no such limit); a running
build's are never removed. A build's age is that of the
newest of its files (a log is appended to at each run). `select` decides
from a listing alone, so it is tested without a disk; `apply` lists, asks
it and removes, and takes files that vanish meanwhile in its stride.
"""
from __future__ import annotations

import enum
import os
import shutil
import stat
from dataclasses import dataclass, field
from typing import Collection, Iterable

from .config.model import LogRetention

DAY = 86400.0


class Kind(enum.Enum):
    LOG = "log"
    WORKSPACE = "workspace"


@dataclass(frozen=True)
class Entry:
    """One file or directory a build left, as listed."""
    build: str
    kind: Kind
    path: str
    mtime: float


@dataclass
class Removed:
    """What `apply` did: the paths removed and those it could not remove, with why."""
    paths: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"removed {len(self.paths)} old build logs and workspaces"
        if self.failed:
            path, reason = self.failed[0]
            text += f"; {len(self.failed)} could not be removed ({path}: {reason})"
        return text


def select(entries: Iterable[Entry], now: float, policy: LogRetention,
           running: Collection[str]) -> list[Entry]:
    """The entries to remove, oldest build first."""
    entries = list(entries)
    newest: dict[str, float] = {}
    for entry in entries:
        newest[entry.build] = max(newest.get(entry.build, entry.mtime), entry.mtime)
    by_age = sorted(newest, key=lambda build: (-newest[build], build))
    expired = set()
    if policy.keep_count is not None:
        expired |= set(by_age[policy.keep_count:])
    if policy.keep_days is not None:
        expired |= {build for build, mtime in newest.items() if now - mtime > policy.keep_days * DAY}
    expired -= set(running)
    return sorted((e for e in entries if e.build in expired),
                  key=lambda e: (newest[e.build], e.build, e.kind.value))


def listing(state_dir: str) -> list[Entry]:
    """Every build log and workspace under the state directory."""
    entries = []
    for kind, directory in ((Kind.LOG, "logs"), (Kind.WORKSPACE, "work")):
        for name in _names(os.path.join(state_dir, directory)):
            if kind is Kind.LOG and not name.endswith(".log"):
                continue            # not a build log: not ours to judge
            path = os.path.join(state_dir, directory, name)
            try:
                mtime = os.lstat(path).st_mtime
            except FileNotFoundError:
                continue            # removed meanwhile
            build = name[:-len(".log")] if kind is Kind.LOG else name
            entries.append(Entry(build, kind, path, mtime))
    return entries


def apply(state_dir: str, now: float, policy: LogRetention,
          running: Collection[str]) -> Removed:
    """Remove what `select` picks from the state directory's listing."""
    return remove(select(listing(state_dir), now, policy, running))


def remove(entries: Iterable[Entry]) -> Removed:
    """Remove each entry; one already gone counts as removed, one that
    cannot be removed is reported and the others are removed all the same."""
    removed = Removed()
    for entry in entries:
        try:
            _remove(entry.path)
        except OSError as exc:
            removed.failed.append((entry.path, exc.strerror or str(exc)))
        else:
            removed.paths.append(entry.path)
    return removed


def _names(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def _remove(path: str) -> None:
    """Remove a file, a link (never what it points to) or a whole tree. Gone
    already is fine; a tree a job made read-only is opened up and retried."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        _unlink(path)
        return
    try:
        shutil.rmtree(path, onerror=_vanished_is_fine)
    except PermissionError:
        _open_up(path)
        shutil.rmtree(path, onerror=_vanished_is_fine)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _vanished_is_fine(function, path: str, exc_info) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def _open_up(top: str) -> None:
    """Make every directory of the tree searchable and writable by its
    owner, each before os.walk lists it; links are left alone (os.walk
    lists links to directories among them)."""
    _owner_rwx(top)
    for directory, subdirectories, _ in os.walk(top):
        for name in subdirectories:
            _owner_rwx(os.path.join(directory, name))


def _owner_rwx(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            os.chmod(path, stat.S_IMODE(mode) | stat.S_IRWXU)
    except OSError:
        pass            # not ours, or gone: rmtree will say
