"""Which files a repository holds when layers are stacked, and the hard-link
farm that puts them in a directory. Views and snapshots share these rules,
so a build sees exactly what the repository will hold once the items ahead
of it land.

Rules, applied layer by layer (later = closer to the build):
- a file replaces any earlier file at the same path (and files that would be
  its parent directory or its children);
- in an rpm repository a package also replaces every earlier package with
  the same name and arch, wherever it is.
"""
from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from typing import Sequence

from .memo import ObjectMemo
from .model import Artifact, Layer, RepoType, SnapshotContent, check_relative
from .pool import pooled_dir
from .store import ArtifactStore

FILES_INDEX = "index.json"


@dataclass(frozen=True)
class Stacked:
    """What a stack of layers shows: `artifacts` in repository order, the
    first layer as `base` when it is a snapshot, and `changed_dirs`, the
    directories whose own files differ from the base's (None: no base, so
    all of them). An unchanged directory can be linked as the base links it."""
    artifacts: list[Artifact]
    base: SnapshotContent | None
    changed_dirs: frozenset[str] | None
    tree: "_Tree"


def overlay(repo_type: str, layers: Sequence[Layer]) -> Stacked:
    """The artifacts visible through `layers`, earliest layer's first."""
    tree = _Tree(RepoType(repo_type) is RepoType.RPM)
    base = layers[0] if layers and isinstance(layers[0], SnapshotContent) else None
    loaded = base is not None and tree.load_snapshot(base)
    for layer in layers[1:] if loaded else layers:
        for artifact in layer.artifacts():
            tree.put(artifact)
    return Stacked(list(tree.files.values()), base,
                   frozenset(tree.touched) if loaded else None, tree)


def remember(content: SnapshotContent, stacked: Stacked) -> None:
    """`stacked` was just published as `content`: later stacks on top of it
    start from a copy of its tree instead of loading its manifest's files."""
    tree = stacked.tree
    _LOADED.put(content, (tree.rpm, tree.files, tree.packages, tree.dirs, tree.by_dir))


# The trees of the snapshots loaded or published lately, by the very
# SnapshotContent object they belong to: snapshots are immutable, and
# snapshots.py hands out the same object while its manifest is unchanged.
_LOADED: ObjectMemo[tuple[bool, dict, dict, dict, dict]] = ObjectMemo()


class _Tree:
    """Files by path, packages by (name, arch), how many files each
    directory holds and the files directly in each: every rule is a
    dictionary lookup.

    A tree copied from a loaded snapshot shares the per-directory dicts of
    `by_dir` with it until it writes to one (copy on write): `touched`
    names the directories this tree wrote to, which are its own."""

    def __init__(self, rpm: bool):
        self.rpm = rpm
        self.files: dict[str, Artifact] = {}
        self.packages: dict[tuple[str, str], str] = {}
        self.dirs: dict[str, int] = {}
        self.by_dir: dict[str, dict[str, Artifact]] = {}
        self.touched: set[str] = set()

    def load_snapshot(self, snapshot: SnapshotContent) -> bool:
        """`load` a published snapshot, from a copy of the last loading of
        the same snapshot when there is one: snapshots are immutable, and
        every view and staging starts from the current one."""
        loaded = _LOADED.get(snapshot)
        if loaded is None or loaded[0] != self.rpm:
            if not self.load(snapshot.artifacts()):
                return False
            loaded = (self.rpm, self.files, self.packages, self.dirs, self.by_dir)
            _LOADED.put(snapshot, loaded)
        _, files, packages, dirs, by_dir = loaded
        self.files, self.packages, self.dirs = dict(files), dict(packages), dict(dirs)
        self.by_dir, self.touched = dict(by_dir), set()
        return True

    def load(self, artifacts: Sequence[Artifact]) -> bool:
        """Take a published snapshot's files at once: it already obeys the
        rules (one file per path and per package). False if it does not."""
        if self.rpm and any(a.entry.rpm is None for a in artifacts):
            return False
        files = {a.entry.path: a for a in artifacts}
        packages = {_package(a): a.entry.path for a in artifacts} if self.rpm else {}
        dirs: dict[str, int] = {}
        by_dir: dict[str, dict[str, Artifact]] = {}
        for path, artifact in files.items():
            check_relative(path)
            for d in _parents(path):
                dirs[d] = dirs.get(d, 0) + 1
            parent, _, name = path.rpartition("/")
            by_dir.setdefault(parent, {})[name] = artifact
        consistent = (len(files) == len(artifacts) and files.keys().isdisjoint(dirs)
                      and (not self.rpm or len(packages) == len(files)))
        if consistent:
            self.files, self.packages, self.dirs, self.by_dir = files, packages, dirs, by_dir
        return consistent

    def put(self, artifact: Artifact) -> None:
        path = artifact.entry.path
        check_relative(path)
        if self.rpm and artifact.entry.rpm is None:
            raise ValueError(f"{path!r} has no package header: not an rpm repository's artifact")
        for old in self._clashing(path):
            self._drop(old)
        if self.rpm:
            old = self.packages.get(_package(artifact))
            if old is not None:
                self._drop(old)
            self.packages[_package(artifact)] = path
        self.files[path] = artifact
        parent, _, name = path.rpartition("/")
        self._own_dir(parent)[name] = artifact
        for d in _parents(path):
            self.dirs[d] = self.dirs.get(d, 0) + 1

    def _clashing(self, path: str) -> list[str]:
        """Earlier files this path cannot coexist with: itself, a file where one
        of its directories must be, the files under it if it was a directory."""
        found = [p for p in (*_parents(path), path) if p in self.files]
        if path in self.dirs:
            found += [p for p in self.files if p.startswith(path + "/")]
        return found

    def _drop(self, path: str) -> None:
        artifact = self.files.pop(path)
        parent, _, name = path.rpartition("/")
        files = self._own_dir(parent)
        del files[name]
        if not files:
            del self.by_dir[parent]
        if self.rpm and self.packages.get(_package(artifact)) == path:
            del self.packages[_package(artifact)]
        for d in _parents(path):
            self.dirs[d] -= 1
            if not self.dirs[d]:
                del self.dirs[d]

    def _own_dir(self, directory: str) -> dict[str, Artifact]:
        """The files directly in `directory`, as a dict this tree may change."""
        if directory not in self.touched:
            self.by_dir[directory] = dict(self.by_dir.get(directory, ()))
            self.touched.add(directory)
        return self.by_dir.setdefault(directory, {})


def _parents(path: str) -> list[str]:
    if "/" not in path:
        return []
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _package(artifact: Artifact) -> tuple[str, str]:
    return artifact.entry.rpm.name, artifact.entry.rpm.arch


def link_tree(dest: str, stacked: Stacked, store: ArtifactStore, pool: str | None = None) -> None:
    """Put every artifact into `dest`: with a `pool`, each directory holding
    only files becomes one symlink to its pooled copy (the base snapshot's
    own, where the directory did not change); other files are hard links
    from the store (never copies: store, pool, views and snapshots must be
    on one filesystem)."""
    os.makedirs(dest, exist_ok=True)
    by_dir = stacked.tree.by_dir
    inner = {ancestor for d in by_dir for ancestor in _parents(d)}
    for parent, files in by_dir.items():
        target = os.path.join(dest, parent) if parent else dest
        if pool and parent and parent not in inner:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            pooled = _base_pooled(stacked, parent) or pooled_dir(pool, list(files.items()), store)
            os.symlink(os.path.relpath(pooled, os.path.dirname(target)), target)
            continue
        os.makedirs(target, exist_ok=True)
        for name, artifact in files.items():
            _hard_link(store.blob(artifact.entry.sha256), os.path.join(target, name), store, dest)


def _base_pooled(stacked: Stacked, directory: str) -> str | None:
    """The pool directory the base snapshot links for `directory`, if the
    stack left that directory's files as they were."""
    if stacked.base is None or stacked.changed_dirs is None or directory in stacked.changed_dirs:
        return None
    link = os.path.join(stacked.base.path, directory)
    try:
        target = os.readlink(link)
    except OSError:                  # not a symlink there: the base did not pool it
        return None
    return os.path.normpath(os.path.join(os.path.dirname(link), target))


def _hard_link(blob: str, path: str, store: ArtifactStore, dest: str) -> None:
    try:
        os.link(blob, path)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise OSError(exc.errno, f"cannot hard-link into {dest}: the artifact "
                          f"store {store.root} is on another filesystem") from None
        raise


def write_files_index(dest: str, artifacts: Sequence[Artifact]) -> None:
    """index.json of a files repository: every file's path, size and sha256."""
    files = sorted((a.entry.to_json() for a in artifacts), key=lambda e: e["path"])
    with open(os.path.join(dest, FILES_INDEX), "w") as f:
        json.dump({"files": files}, f, indent=1)
        f.write("\n")


def provenance(artifacts: Sequence[Artifact]) -> list[dict]:
    return [a.to_json() for a in artifacts]
