"""Published repositories: immutable numbered snapshots and one `current`
symlink, switched with a single rename so readers never see a half-written
repository (DLRN's layout).

  <root>/<repository>/snapshots/<N>/           a snapshot: files, metadata, manifest.json
  <root>/<repository>/snapshots/<N>.tmp-<pid>/ a staging, written by process <pid>
  <root>/<repository>/snapshots/<N>.gone-<pid>/ a snapshot being removed
  <root>/<repository>/current -> snapshots/<N>

A snapshot is staged complete under a temporary name and takes its number
only once its git landing happened (`place`; publishing.py orders the
steps): a numbered directory is always complete and always a landed item's.
Removal renames aside first, so no numbered directory is ever half removed.
Snapshot N's manifest names N-1 as its parent: the numbers on disk are
`current` and the ancestors of it that `keep` leaves.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from .durable import sync_dir, write_file
from .failpoints import Failpoint, failpoint
from .layering import Stacked, remember
from .memo import FileMemo
from .model import Artifact, ArtifactSet, RepoType, SnapshotContent
from .store import ArtifactStore
from .view import build_repository

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StagedSnapshot:
    """A complete snapshot under its temporary name `staging`; `path` is
    where `place` puts it, once its landing happened."""
    repository: str
    number: int
    path: str
    staging: str
    manifest: dict


_STAGING = re.compile(r"\d+\.tmp-(\d+)")          # snapshots/<N>.tmp-<pid>
_REMOVING = re.compile(r"\d+\.gone-(\d+)")        # snapshots/<N>.gone-<pid>
_LINK = re.compile(r"\.current\.tmp-(\d+)")       # <repository>/.current.tmp-<pid>


def staging_pid(name: str) -> int | None:
    """The process writing snapshots/<name>, if it is a staging."""
    match = _STAGING.fullmatch(name)
    return int(match.group(1)) if match else None


def leftover_pid(name: str) -> int | None:
    """The process that made snapshots/<name>, if it is a staging or a
    snapshot being removed (once that process is gone: a leftover)."""
    match = _STAGING.fullmatch(name) or _REMOVING.fullmatch(name)
    return int(match.group(1)) if match else None


def link_pid(name: str) -> int | None:
    """The process that made <repository>/<name>, if it is a next `current` link."""
    match = _LINK.fullmatch(name)
    return int(match.group(1)) if match else None


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
    """Publishes one repository; `keep` snapshots up to `current` survive prune.
    Between landings the numbered snapshots are `current` and its newest
    ancestors, each complete (see the module docstring)."""

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
        """Snapshot numbers on disk, ascending (stagings have none yet)."""
        return sorted(int(n) for n in _listdir(self.snapshots) if n.isdigit())

    # -- one landing: stage, place, switch, prune (or discard) ------------------

    def stage(self, layers: Sequence[ArtifactSet], manifest_extra: dict) -> StagedSnapshot:
        """Write the next snapshot, current's content plus `layers`, complete
        and synced under a temporary name, without numbering or publishing
        it. manifest_extra gives "projects" and "changes" (what it adds)."""
        if any(layer is None for layer in layers):
            raise ValueError("an export build has no stored artifact set")
        parent = _current_number(self.repo_dir) or None
        base = self.current_layer()
        number = max([parent or 0, *self.numbers()]) + 1
        staging = os.path.join(self.snapshots, f"{number}.tmp-{os.getpid()}")
        os.makedirs(self.snapshots, exist_ok=True)
        if os.path.exists(staging):         # left by a crashed process with our pid
            shutil.rmtree(staging)
        try:
            manifest, stacked = self._write(staging, number, parent, base, layers, manifest_extra)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        sync_dir(self.snapshots)
        # Remembered by the manifest file's identity, which the rename keeps.
        content = SnapshotContent(self.name, number, self.path(number), tuple(stacked.artifacts))
        _CONTENTS.put(os.path.join(staging, MANIFEST), content)
        remember(content, stacked)
        return StagedSnapshot(self.name, number, self.path(number), staging, manifest)

    def _write(self, tmp: str, number: int, parent: int | None, base: SnapshotContent | None,
               layers: Sequence[ArtifactSet], extra: dict) -> tuple[dict, Stacked]:
        stacked = build_repository(tmp, self.type.value, ([base] if base else []) + list(layers),
                                   self.store, published=True, pool=self.pool)
        failpoint(Failpoint.STAGING)
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

    def place(self, number: int, staging: str) -> None:
        """Give the complete staging `staging` (a name under snapshots/) its
        number, once its landing happened. Idempotent: done if numbered."""
        if os.path.isdir(self.path(number)):
            return
        os.rename(os.path.join(self.snapshots, staging), self.path(number))
        sync_dir(self.snapshots)

    def switch(self, staged: StagedSnapshot) -> None:
        """Number the staged snapshot and point `current` at it."""
        self.place(staged.number, os.path.basename(staged.staging))
        self.switch_to(staged.number)

    def switch_to(self, number: int) -> None:
        """Point `current` at snapshot `number` with one atomic rename."""
        if not os.path.exists(os.path.join(self.path(number), MANIFEST)):
            raise FileNotFoundError(f"{self.name}: snapshot {number} is not placed")
        link = os.path.join(self.repo_dir, f".current.tmp-{os.getpid()}")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.join("snapshots", str(number)), link)
        failpoint(Failpoint.SWITCHING)
        os.replace(link, os.path.join(self.repo_dir, "current"))
        sync_dir(self.repo_dir)

    def discard(self, staged: StagedSnapshot) -> None:
        self.discard_staged(staged.number, os.path.basename(staged.staging))

    def discard_staged(self, number: int, staging: str) -> None:
        """Remove a staging whose landing did not happen, and its number if
        it was placed but never current. Idempotent."""
        shutil.rmtree(os.path.join(self.snapshots, staging), ignore_errors=True)
        if number > _current_number(self.repo_dir) and os.path.isdir(self.path(number)):
            self._remove(str(number))

    def prune(self) -> list[int]:
        """Remove the oldest published snapshots beyond `keep` (current counts
        as one and always stays). What the removed snapshots alone used goes
        with the garbage (gc.py)."""
        current = _current_number(self.repo_dir)
        published = [n for n in self.numbers() if n <= current]
        doomed = published[:-self.keep] if current else []
        for number in doomed:
            self._remove(str(number), Failpoint.PRUNING)
        return doomed

    # -- at a start: what interrupted work left --------------------------------

    def sweep(self) -> list[str]:
        """Remove every name under snapshots/ that is not `current` or one of
        its ancestors (stagings, half-removed snapshots, snapshots that were
        never current), and leftover `current` links; the names removed.
        Only while no landing is under way, after an interrupted one's
        intent is settled (publishing.Artifacts.recover)."""
        chain = self._chain()
        if _current_number(self.repo_dir) and not chain:
            raise FileNotFoundError(f"{self.repo_dir}/current points at a missing snapshot")
        removed = [name for name in _listdir(self.snapshots)
                   if not (name.isdigit() and int(name) in chain)]
        for name in removed:
            self._remove(name)
            failpoint(Failpoint.SWEPT)
        links = [name for name in _listdir(self.repo_dir) if link_pid(name) is not None]
        for name in links:
            os.unlink(os.path.join(self.repo_dir, name))
        return removed + links

    def _chain(self) -> set[int]:
        """`current` and the ancestors of it still on disk, by the parent
        each manifest names."""
        chain: set[int] = set()
        number = _current_number(self.repo_dir)
        while number and number not in chain and os.path.isdir(self.path(number)):
            chain.add(number)
            try:
                number = _parent(os.path.join(self.path(number), MANIFEST))
            except (OSError, ValueError):      # no readable manifest: the chain ends
                break
        return chain

    def _remove(self, name: str, point: Failpoint | None = None) -> None:
        """Rename snapshots/<name> aside (a temporary name stays as it is),
        make that durable, then remove it."""
        path = os.path.join(self.snapshots, name)
        if name.isdigit():
            aside = os.path.join(self.snapshots, f"{name}.gone-{os.getpid()}")
            os.rename(path, aside)
            sync_dir(self.snapshots)
            path = aside
        if point:
            failpoint(point)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _parent(manifest_path: str) -> int | None:
    """The parent a manifest names, read from its head: `_manifest_text`
    writes the artifacts (megabytes of them) last."""
    head = b""
    with open(manifest_path, "rb") as f:
        while b'"artifacts"' not in head and (chunk := f.read(1 << 16)):
            head += chunk
    text = head.decode("utf-8", "replace")
    try:
        return json.loads(text[:text.find('"artifacts"')] + '"artifacts": []}')["parent"]
    except (ValueError, KeyError):      # not written by _manifest_text: read it all
        with open(manifest_path) as f:
            return json.load(f).get("parent")


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


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
