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

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from .durable import sync_dir, write_file
from .layering import Stacked, remember
from .memo import FileMemo
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
    manifest_path = os.path.join(path, MANIFEST)
    content = _CONTENTS.get(manifest_path)
    if content is None or content.path != path:
        with open(manifest_path) as f:
            manifest = json.load(f)
        content = SnapshotContent(repository, number, path,
                                  tuple(Artifact.from_json(a) for a in manifest["artifacts"]))
        _CONTENTS.put(manifest_path, content)
    return content


# The snapshots this process staged or read lately. The snapshot published
# by a landing is the base of every view and staging after it; keeping it
# in memory saves parsing the manifest just written, and handing out the
# same object lets the layers below reuse what they derived from it.
_CONTENTS: FileMemo[SnapshotContent] = FileMemo()


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
            manifest, stacked = self._write(tmp, number, parent, base, layers, manifest_extra)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, self.path(number))
        sync_dir(self.snapshots)
        content = SnapshotContent(self.name, number, self.path(number), tuple(stacked.artifacts))
        _CONTENTS.put(os.path.join(self.path(number), MANIFEST), content)
        remember(content, stacked)
        return StagedSnapshot(self.name, number, self.path(number), manifest)

    def _write(self, tmp: str, number: int, parent: int | None, base: SnapshotContent | None,
               layers: Sequence[ArtifactSet], extra: dict) -> tuple[dict, Stacked]:
        stacked = build_repository(tmp, self.type.value, ([base] if base else []) + list(layers),
                                   self.store, published=True, pool=self.pool)
        encoded = _encode(self.name, stacked.artifacts)
        manifest = self._manifest(number, parent, extra, [record for record, _ in encoded])
        text = _manifest_text(manifest, [line for _, line in encoded])
        write_file(os.path.join(tmp, MANIFEST), text.encode())
        for directory, _, _ in os.walk(tmp):          # symlinks to the pool are not followed
            sync_dir(directory)
        return manifest, stacked

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
        sync_dir(self.repo_dir)

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
        as one and always stays). Leftovers of interrupted stagings, and
        what the removed snapshots alone used, go with the garbage (gc.py)."""
        current = _current_number(self.repo_dir)
        published = [n for n in self.numbers() if n <= current]
        doomed = published[:-self.keep] if current else []
        for number in doomed:
            shutil.rmtree(self.path(number))
        return doomed


# By repository: each artifact of its last staging, by id, with its record
# and JSON line (the artifact is kept, so its id cannot be reused).
_ENCODED: dict[str, dict[int, tuple[Artifact, dict, str]]] = {}


def _encode(repository: str, artifacts: Sequence[Artifact]) -> list[tuple[dict, str]]:
    """Each artifact's manifest record and JSON line, reusing those of the
    repository's last staging: a snapshot repeats its parent's artifacts,
    and with the parent taken from memory (_CONTENTS) they are the very
    same objects."""
    last = _ENCODED.get(repository, {})
    encoded = {}
    for artifact in artifacts:
        hit = last.get(id(artifact))
        if hit is None or hit[0] is not artifact:
            record = artifact.to_json()
            hit = (artifact, record, json.dumps(record))
        encoded[id(artifact)] = hit
    _ENCODED[repository] = encoded
    return [(record, line) for _, record, line in encoded.values()]


def _manifest_text(manifest: dict, artifact_lines: list[str]) -> str:
    """Indented JSON with one artifact per line: readable, and the C encoder
    writes each line (indenting 5,000 artifacts in Python costs 150 ms)."""
    head = {k: v for k, v in manifest.items() if k != "artifacts"}
    lines = ",\n  ".join(artifact_lines)
    text = json.dumps(head, indent=1)[:-2]
    return f'{text},\n "artifacts": [\n  {lines}\n ]\n}}\n' if lines else \
        f'{text},\n "artifacts": []\n}}\n'
