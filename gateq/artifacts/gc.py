"""Garbage collection of the artifact store and of the repositories' pools:
remove exactly what nothing can reach any more, and say what went. Roots:
every numbered snapshot on disk, the stagings of a process still running,
the views of running builds, and the artifact sets of live builds.

Everything that decides is read first; then the removals, in an order where
each step removes only what the steps before left unreachable, so that a
collector killed at any instant leaves everything reachable in place (the
next run finishes the job):
  1. the artifact sets of builds that are not live (a set never names a
     missing blob);
  2. leftovers of interrupted work whose process is gone: stagings and
     snapshots being removed, pool directories being filled, pool
     directories the collector was deleting;
  3. pool directories no root links to, each renamed aside before it is
     emptied (pooled_dir must never find a half-deleted one at its key);
  4. store blobs no live set names and nothing else links: views, snapshots
     and pool directories hold hard links to them, so st_nlink 1 means only
     the store's own name is left. Each blob's metadata fragments go just
     before it, so that no fragment outlives its blob (and no full scan of
     the fragments is needed);
  5. files of interrupted ingestions.
It must not run while a view, a staging or an ingestion is being written on
the same store: the engine runs all of them, and this, from its one loop.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Callable, Iterable

from .durable import sync_dir
from .pool import TRASH_PREFIX, filling_pid, is_complete, seal, unseal
from .snapshots import leftover_pid, link_pid, staging_pid
from .store import ArtifactStore

_INGESTING = re.compile(r"\w+-(\d+)(-\d+)?(\.json)?")  # store.py: blob-<pid>-<thread>, set-<pid>-<thread>.json
_FRAGMENT_TMP = re.compile(r".*\.json\.tmp-(\d+)(-\d+)?")  # rpmfragments.py: <fragment>.tmp-<pid>-<thread>


@dataclass(frozen=True)
class Collected:
    """What one collection removed. `bytes_freed` counts the files whose last
    link went: a pool directory frees nothing until its blobs leave the store."""
    pool_dirs: int = 0
    blobs: int = 0
    sets: int = 0
    fragments: int = 0
    leftovers: int = 0
    bytes_freed: int = 0

    def __bool__(self) -> bool:
        """True if anything was removed."""
        return self != Collected()

    def summary(self) -> str:
        return (f"removed {self.pool_dirs} pool directories, {self.blobs} stored files, "
                f"{self.sets} artifact sets, {self.fragments} metadata fragments and "
                f"{self.leftovers} leftovers of interrupted work; {self.bytes_freed} bytes freed")


def collect(store: ArtifactStore, repo_dirs: Iterable[str], view_roots: Iterable[str],
            live_builds: Iterable[str],
            before_removal: Callable[[str], None] | None = None) -> Collected:
    """Remove what no snapshot of `repo_dirs` (<publish root>/<repository>),
    no view under `view_roots` and no set of `live_builds` reaches.
    `before_removal` is called with each path just before it is removed or
    renamed aside: a verbose log, or a test stopping the collector there.
    Raises OSError, with nothing removed, if a root cannot be read."""
    repo_dirs = [d for d in repo_dirs if os.path.isdir(d)]
    live = set(live_builds)
    live_blobs = _blobs_named(store, live)
    linked = _linked_dirs([*_snapshot_dirs(repo_dirs), *view_roots])
    sweep = _Sweep(before_removal)
    sweep.sets(store, live)
    for repo_dir in repo_dirs:
        sweep.leftovers(repo_dir)
    for repo_dir in repo_dirs:
        sweep.pool(os.path.join(repo_dir, "pool"), linked)
    sweep.blobs(store, live_blobs)
    sweep.ingestions(store)
    return sweep.report()


def _blobs_named(store: ArtifactStore, builds: set[str]) -> set[str]:
    """The sha256 of every file the stored sets of `builds` name."""
    named = set()
    for build in builds:
        artifact_set = store.load(build)
        if artifact_set is not None:
            named.update(entry.sha256 for entry in artifact_set.entries)
    return named


def _snapshot_dirs(repo_dirs: list[str]) -> list[str]:
    """Every snapshot on disk, and the stagings still being written."""
    found = []
    for repo_dir in repo_dirs:
        snapshots = os.path.join(repo_dir, "snapshots")
        for name in _listdir(snapshots):
            staging = staging_pid(name)
            if name.isdigit() or (staging is not None and _running(staging)):
                found.append(os.path.join(snapshots, name))
    return found


def _linked_dirs(roots: list[str]) -> set[tuple[int, int]]:
    """(device, inode) of every directory a symlink under `roots` points to.
    Symlinks are not followed into: pool directories hold only files."""
    linked = set()
    pending = list(roots)
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except FileNotFoundError:          # a view removed since it was listed
            continue
        for entry in entries:
            if entry.is_symlink():
                try:
                    st = os.stat(entry.path)
                except OSError:            # dangling or looping: reaches nothing
                    continue
                if stat.S_ISDIR(st.st_mode):
                    linked.add((st.st_dev, st.st_ino))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return linked


class _Sweep:
    """Removes paths in the order `collect` calls it and counts what went."""

    def __init__(self, before_removal: Callable[[str], None] | None):
        self.before = before_removal or (lambda path: None)
        self.counts = {"pool_dirs": 0, "blobs": 0, "sets": 0, "fragments": 0, "leftovers": 0}
        self.freed = 0

    def report(self) -> Collected:
        return Collected(**self.counts, bytes_freed=self.freed)

    def sets(self, store: ArtifactStore, live: set[str]) -> None:
        directory = os.path.join(store.root, "sets")
        keep = {os.path.basename(store.set_path(build)) for build in live}
        for name in _listdir(directory):
            if name.endswith(".json") and name not in keep:
                self.unlink(os.path.join(directory, name), "sets")
        if self.counts["sets"]:
            sync_dir(directory)            # gone for good before any blob they named

    def leftovers(self, repo_dir: str) -> None:
        snapshots = os.path.join(repo_dir, "snapshots")
        for name in _listdir(snapshots):
            if _gone(leftover_pid(name)):
                self.remove_tree(os.path.join(snapshots, name), "leftovers")
        for name in _listdir(repo_dir):
            if _gone(link_pid(name)):
                self.unlink(os.path.join(repo_dir, name), "leftovers")
        pool = os.path.join(repo_dir, "pool")
        for name in _listdir(pool):
            pid = filling_pid(name)
            if pid is not None and not _running(pid):
                self.remove_tree(os.path.join(pool, name), "leftovers")

    def pool(self, pool: str, linked: set[tuple[int, int]]) -> None:
        for bucket in _listdir(pool):
            directory = os.path.join(pool, bucket)
            if bucket.startswith(".") or not os.path.isdir(directory):
                continue
            names = _listdir(directory)
            for name in names:              # first, so that no rename below meets one
                if name.startswith(TRASH_PREFIX):
                    self.remove_tree(os.path.join(directory, name), "leftovers")
            for name in names:
                path = os.path.join(directory, name)
                if not is_complete(name):
                    continue
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) in linked:
                    seal(path)
                else:
                    self.drop_pooled(directory, name)

    def drop_pooled(self, directory: str, name: str) -> None:
        """Rename aside (same parent: no write permission on the directory
        itself needed), make that durable, then empty and remove it."""
        trash = os.path.join(directory, f"{TRASH_PREFIX}{os.getpid()}-{name}")
        self.before(os.path.join(directory, name))
        os.rename(os.path.join(directory, name), trash)
        sync_dir(directory)
        self.remove_tree(trash, "pool_dirs")

    def blobs(self, store: ArtifactStore, live_blobs: set[str]) -> None:
        for prefix in _listdir(store.blobs):
            with os.scandir(os.path.join(store.blobs, prefix)) as scan:
                entries = list(scan)
            fragments = None
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink > 1 or prefix + entry.name in live_blobs:
                    continue
                if fragments is None:
                    fragments = self.fragment_leftovers(os.path.join(store.fragments.root, prefix))
                for name in fragments:
                    if name.startswith(entry.name + "-"):
                        self.unlink(os.path.join(store.fragments.root, prefix, name), "fragments")
                self.unlink(entry.path, "blobs", st)

    def fragment_leftovers(self, directory: str) -> list[str]:
        """Remove the interrupted writes among the fragments of one sha256
        prefix (they are looked at with the blobs of that prefix); the rest."""
        names = []
        for name in _listdir(directory):
            if _dead(_FRAGMENT_TMP, name):
                self.unlink(os.path.join(directory, name), "leftovers")
            elif not _FRAGMENT_TMP.fullmatch(name):
                names.append(name)
        return names

    def ingestions(self, store: ArtifactStore) -> None:
        directory = os.path.join(store.root, "tmp")
        for name in _listdir(directory):
            if _dead(_INGESTING, name):
                self.unlink(os.path.join(directory, name), "leftovers")

    def unlink(self, path: str, kind: str | None, st: os.stat_result | None = None) -> None:
        st = st or os.lstat(path)
        self.before(path)
        os.unlink(path)
        if st.st_nlink == 1 and stat.S_ISREG(st.st_mode):
            self.freed += st.st_size
        if kind:
            self.counts[kind] += 1

    def remove_tree(self, path: str, kind: str) -> None:
        self._remove_tree(path)
        self.counts[kind] += 1

    def _remove_tree(self, path: str) -> None:
        unseal(path)                        # a pool directory is read-only once complete
        with os.scandir(path) as scan:
            entries = list(scan)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._remove_tree(entry.path)
            else:
                self.unlink(entry.path, None)
        self.before(path)
        os.rmdir(path)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def _dead(pattern: re.Pattern, name: str) -> bool:
    """Whether `name` is a temporary name whose process (its pid) is gone."""
    match = pattern.fullmatch(name)
    return bool(match) and _gone(int(match.group(1)))


def _gone(pid: int | None) -> bool:
    """Whether `pid` names a process that is gone (None: no process at all)."""
    return pid is not None and not _running(pid)


def _running(pid: int) -> bool:
    """Our own pid counts as running: the caller may be between two steps."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:             # someone else's process
        return True
    return True
