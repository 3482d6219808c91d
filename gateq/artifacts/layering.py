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
from typing import Sequence

from .model import Artifact, Layer, RepoType, SnapshotContent, check_relative
from .pool import pooled_dir
from .store import ArtifactStore

FILES_INDEX = "index.json"


def overlay(repo_type: str, layers: Sequence[Layer], becomes: tuple | None = None) -> list[Artifact]:
    """The artifacts visible through `layers`, earliest layer's first.

    `becomes` (repository, number, path): these layers are being published as
    that snapshot, so the result is remembered as its loaded tree, and the
    next view or staging on top of it starts from a copy."""
    rpm = RepoType(repo_type) is RepoType.RPM
    tree = _Tree(rpm)
    for i, layer in enumerate(layers):
        if i == 0 and isinstance(layer, SnapshotContent) and tree.load_snapshot(layer):
            continue
        for artifact in layer.artifacts():
            tree.put(artifact)
    if becomes is not None:
        _LOADED.clear()
        _LOADED[(*becomes, rpm)] = (tree.files, tree.packages, tree.dirs)
    return list(tree.files.values())


_LOADED: dict[tuple, tuple[dict, dict, dict]] = {}


class _Tree:
    """Files by path, packages by (name, arch) and how many files each
    directory holds: every rule is a dictionary lookup."""

    def __init__(self, rpm: bool):
        self.rpm = rpm
        self.files: dict[str, Artifact] = {}
        self.packages: dict[tuple[str, str], str] = {}
        self.dirs: dict[str, int] = {}

    def load_snapshot(self, snapshot: SnapshotContent) -> bool:
        """`load` a published snapshot, from a copy of the last loading of
        the same snapshot when there is one: snapshots are immutable, and
        every view and staging starts from the current one."""
        key = (snapshot.repository, snapshot.number, snapshot.path, self.rpm)
        if key not in _LOADED:
            if not self.load(snapshot.artifacts()):
                return False
            _LOADED.clear()                       # only the latest snapshot matters
            _LOADED[key] = (self.files, self.packages, self.dirs)
        files, packages, dirs = _LOADED[key]
        self.files, self.packages, self.dirs = dict(files), dict(packages), dict(dirs)
        return True

    def load(self, artifacts: Sequence[Artifact]) -> bool:
        """Take a published snapshot's files at once: it already obeys the
        rules (one file per path and per package). False if it does not."""
        if self.rpm and any(a.entry.rpm is None for a in artifacts):
            return False
        files = {a.entry.path: a for a in artifacts}
        packages = {_package(a): a.entry.path for a in artifacts} if self.rpm else {}
        dirs: dict[str, int] = {}
        for path in files:
            check_relative(path)
            for d in _parents(path):
                dirs[d] = dirs.get(d, 0) + 1
        consistent = (len(files) == len(artifacts) and files.keys().isdisjoint(dirs)
                      and (not self.rpm or len(packages) == len(files)))
        if consistent:
            self.files, self.packages, self.dirs = files, packages, dirs
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
        if self.rpm and self.packages.get(_package(artifact)) == path:
            del self.packages[_package(artifact)]
        for d in _parents(path):
            self.dirs[d] -= 1
            if not self.dirs[d]:
                del self.dirs[d]


def _parents(path: str) -> list[str]:
    if "/" not in path:
        return []
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _package(artifact: Artifact) -> tuple[str, str]:
    return artifact.entry.rpm.name, artifact.entry.rpm.arch


def link_tree(dest: str, artifacts: Sequence[Artifact], store: ArtifactStore,
              pool: str | None = None) -> None:
    """Put every artifact into `dest`: with a `pool`, each directory holding
    only files becomes one symlink to its pooled copy; other files are hard
    links from the store (never copies: store, pool, views and snapshots
    must be on one filesystem)."""
    os.makedirs(dest, exist_ok=True)
    by_dir: dict[str, list[tuple[str, Artifact]]] = {}
    for artifact in artifacts:
        parent, _, name = artifact.entry.path.rpartition("/")
        by_dir.setdefault(parent, []).append((name, artifact))
    inner = {ancestor for d in by_dir for ancestor in _parents(d)}
    for parent, files in by_dir.items():
        target = os.path.join(dest, parent) if parent else dest
        if pool and parent and parent not in inner:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            pooled = pooled_dir(pool, files, store)
            os.symlink(os.path.relpath(pooled, os.path.dirname(target)), target)
            continue
        os.makedirs(target, exist_ok=True)
        for name, artifact in files:
            _hard_link(store.blob(artifact.entry.sha256), os.path.join(target, name), store, dest)


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
