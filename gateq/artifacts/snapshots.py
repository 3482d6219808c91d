"""Published repositories: immutable numbered snapshots and one `current`
symlink, switched with a single rename so readers never see a half-written
repository (DLRN's layout).

  <root>/<repository>/snapshots/<N>/   files, repodata/ or index.json, manifest.json
  <root>/<repository>/current -> snapshots/<N>

A snapshot is staged complete under a temporary name, renamed to its
number, and only then may `current` point at it. Snapshots newer than
`current` are staged ones awaiting the git landing; prune never touches them.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from .model import Artifact, ArtifactSet, RepoType, SnapshotContent
from .store import ArtifactStore
from .view import build_repository

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StagedSnapshot:
    repository: str
    number: int
    path: str
    manifest: dict


def snapshot_layer(root: str, repository: str) -> SnapshotContent | None:
    """The content of the snapshot `current` points to, as the first layer of
    a view; None before the first publication."""
    number = _current_number(os.path.join(root, repository))
    if not number:
        return None
    path = os.path.join(root, repository, "snapshots", str(number))
    st = os.stat(os.path.join(path, MANIFEST))
    staged = _STAGED.get(path)
    if staged and staged[:2] == (st.st_ino, st.st_mtime_ns):
        return staged[2]
    return _read_layer(repository, number, path, st.st_ino, st.st_mtime_ns)


# What this process staged, by snapshot directory: (inode, mtime, content).
# The snapshot published by a landing is the base of every view and staging
# after it; taking it from memory saves parsing the manifest just written.
_STAGED: dict[str, tuple[int, int, SnapshotContent]] = {}


@functools.lru_cache(maxsize=16)
def _read_layer(repository: str, number: int, path: str, inode: int, mtime_ns: int
                ) -> SnapshotContent:
    """Snapshots never change, so a parsed manifest stays valid for as long as
    the same file (inode and mtime) sits at the same path."""
    with open(os.path.join(path, MANIFEST)) as f:
        manifest = json.load(f)
    return SnapshotContent(repository, number, path,
                           tuple(Artifact.from_json(a) for a in manifest["artifacts"]))


def _current_number(repo_dir: str) -> int:
    try:
        target = os.readlink(os.path.join(repo_dir, "current"))
    except FileNotFoundError:
        return 0
    return int(os.path.basename(target))


class Publisher:
    """Publishes one repository; `keep` snapshots up to `current` survive prune."""

    def __init__(self, root: str, repo_name: str, repo_type: str, keep: int,
                 store: ArtifactStore):
        if keep < 1:
            raise ValueError("keep must be at least 1: current is never pruned")
        self.root, self.name, self.type = root, repo_name, RepoType(repo_type)
        self.keep, self.store = keep, store
        self.repo_dir = os.path.join(root, repo_name)
        self.snapshots = os.path.join(self.repo_dir, "snapshots")
        self.pool = os.path.join(self.repo_dir, "pool")

    def path(self, number: int) -> str:
        return os.path.join(self.snapshots, str(number))

    def current_number(self) -> int:
        """The snapshot `current` points to, 0 before the first publication."""
        return _current_number(self.repo_dir)

    def current(self) -> tuple[int, dict | None]:
        number = _current_number(self.repo_dir)
        if not number:
            return 0, None
        with open(os.path.join(self.path(number), MANIFEST)) as f:
            return number, json.load(f)

    def current_layer(self) -> SnapshotContent | None:
        return snapshot_layer(self.root, self.name)

    def numbers(self) -> list[int]:
        """Snapshot numbers on disk (published or staged), ascending."""
        if not os.path.isdir(self.snapshots):
            return []
        return sorted(int(n) for n in os.listdir(self.snapshots) if n.isdigit())

    def stage(self, layers: Sequence[ArtifactSet], manifest_extra: dict) -> StagedSnapshot:
        """Write the next snapshot, current's content plus `layers`, complete
        and synced, without publishing it. manifest_extra gives "projects"
        and "changes" (what this snapshot adds)."""
        if any(layer is None for layer in layers):
            raise ValueError("an export build has no stored artifact set")
        parent = _current_number(self.repo_dir) or None
        base = self.current_layer()
        number = max([parent or 0, *self.numbers()]) + 1
        tmp = os.path.join(self.snapshots, f"{number}.tmp-{os.getpid()}")
        os.makedirs(self.snapshots, exist_ok=True)
        if os.path.exists(tmp):             # left by a crashed process with our pid
            shutil.rmtree(tmp)
        try:
            manifest, artifacts = self._write(tmp, number, parent, base, layers, manifest_extra)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, self.path(number))
        _sync_dir(self.snapshots)
        st = os.stat(os.path.join(self.path(number), MANIFEST))
        _STAGED.clear()
        _STAGED[self.path(number)] = (st.st_ino, st.st_mtime_ns, SnapshotContent(
            self.name, number, self.path(number), tuple(artifacts)))
        return StagedSnapshot(self.name, number, self.path(number), manifest)

    def _write(self, tmp: str, number: int, parent: int | None, base: SnapshotContent | None,
               layers: Sequence[ArtifactSet], extra: dict) -> tuple[dict, list[Artifact]]:
        artifacts = build_repository(tmp, self.type.value, ([base] if base else []) + list(layers),
                                     self.store, published=True, pool=self.pool,
                                     becomes=(self.name, number, self.path(number)))
        encoded = _encode(artifacts)
        manifest = self._manifest(number, parent, extra, [record for record, _ in encoded])
        text = _manifest_text(manifest, [line for _, line in encoded])
        _write_synced(os.path.join(tmp, MANIFEST), text)
        for directory, _, _ in os.walk(tmp):          # symlinks to the pool are not followed
            _sync_dir(directory)
        return manifest, artifacts

    def _manifest(self, number: int, parent: int | None, extra: dict,
                  records: list[dict]) -> dict:
        return {"snapshot": number, "parent": parent,
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "repository": self.name, "type": self.type.value,
                "projects": list(extra.get("projects", ())),
                "changes": list(extra.get("changes", ())),
                **{k: v for k, v in extra.items() if k not in ("projects", "changes")},
                "artifacts": records}

    def switch(self, staged: StagedSnapshot) -> None:
        self.switch_to(staged.number)

    def switch_to(self, number: int) -> None:
        """Point `current` at snapshot `number` with one atomic rename."""
        if not os.path.exists(os.path.join(self.path(number), MANIFEST)):
            raise FileNotFoundError(f"{self.name}: snapshot {number} is not staged")
        link = os.path.join(self.repo_dir, f".current.tmp-{os.getpid()}")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join("snapshots", str(number)), link)
        os.replace(link, os.path.join(self.repo_dir, "current"))
        _sync_dir(self.repo_dir)

    def discard(self, staged: StagedSnapshot) -> None:
        self.discard_number(staged.number)

    def discard_number(self, number: int) -> None:
        """Remove a staged snapshot that `current` never pointed to."""
        if number <= _current_number(self.repo_dir):
            raise ValueError(f"{self.name}: snapshot {number} was published; only prune removes it")
        if os.path.isdir(self.path(number)):
            shutil.rmtree(self.path(number))

    def prune(self) -> list[int]:
        """Remove the oldest published snapshots beyond `keep` (current counts
        as one and always stays), and leftovers of interrupted stagings."""
        current = _current_number(self.repo_dir)
        published = [n for n in self.numbers() if n <= current]
        doomed = published[:-self.keep] if current else []
        for number in doomed:
            shutil.rmtree(self.path(number))
        for name in os.listdir(self.snapshots) if os.path.isdir(self.snapshots) else ():
            if ".tmp-" in name and not _alive(int(name.rsplit("-", 1)[1])):
                shutil.rmtree(os.path.join(self.snapshots, name))
        return doomed


_ENCODED: dict[int, tuple[Artifact, dict, str]] = {}


def _encode(artifacts: Sequence[Artifact]) -> list[tuple[dict, str]]:
    """Each artifact's manifest record and JSON line, reusing those of the
    last staging: a snapshot repeats its parent's artifacts, and with the
    parent taken from memory (_STAGED) they are the very same objects."""
    global _ENCODED
    encoded = {}
    for artifact in artifacts:
        hit = _ENCODED.get(id(artifact))
        if hit is None or hit[0] is not artifact:
            record = artifact.to_json()
            hit = (artifact, record, json.dumps(record))
        encoded[id(artifact)] = hit
    _ENCODED = encoded
    return [(record, line) for _, record, line in encoded.values()]


def _manifest_text(manifest: dict, artifact_lines: list[str]) -> str:
    """Indented JSON with one artifact per line: readable, and the C encoder
    writes each line (indenting 5,000 artifacts in Python costs 150 ms)."""
    head = {k: v for k, v in manifest.items() if k != "artifacts"}
    lines = ",\n  ".join(artifact_lines)
    text = json.dumps(head, indent=1)[:-2]
    return f'{text},\n "artifacts": [\n  {lines}\n ]\n}}\n' if lines else \
        f'{text},\n "artifacts": []\n}}\n'


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_synced(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
