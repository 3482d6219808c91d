"""The content-addressed artifact store: what export builds produced, kept
by sha256 so views and snapshots are hard-link farms of the same files.

Layout under `root` (state/cas):
  sha256/ab/cdef...      one read-only file per distinct content
  sets/<build>.json      the validated ArtifactSet of each export build
  rpmmeta/...            rendered package metadata (see rpmfragments)
  tmp/                   files being ingested

Ingestion copies (never links) what the job wrote, so nothing the job still
holds open can change a stored file afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.parse

from .exportdir import walk_files
from .model import ArtifactSet, Entry, RejectedArtifact, RepoType
from .rpmfragments import FragmentCache, NotAPackage, has_rpm_magic

_CHUNK = 1 << 20


class ArtifactStore:
    """Stored files never change once their name exists (they are written to
    tmp/ and renamed into place); a set refers only to stored files."""

    def __init__(self, root: str):
        self.root = root
        self.blobs = os.path.join(root, "sha256")
        self.fragments = FragmentCache(os.path.join(root, "rpmmeta"))
        for sub in ("sha256", "sets", "rpmmeta", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    def blob(self, sha256: str) -> str:
        return f"{self.blobs}/{sha256[:2]}/{sha256[2:]}"

    def set_path(self, build: str) -> str:
        return os.path.join(self.root, "sets", urllib.parse.quote(build, safe="") + ".json")

    def ingest(self, build: str, repo_type: str, src_dir: str, job: str, change: str
               ) -> ArtifactSet:
        """Validate and store every file under `src_dir`; raise RejectedArtifact
        (nothing recorded) at the first file that cannot be published."""
        repo_type = RepoType(repo_type)
        entries = []
        for path, fd in walk_files(src_dir):
            try:
                entries.append(self._ingest_file(path, fd, repo_type))
            finally:
                os.close(fd)
        _check_unique_packages(entries)
        artifact_set = ArtifactSet(build, job, change, repo_type.value, tuple(entries))
        tmp = os.path.join(self.root, "tmp", f"set-{os.getpid()}-{threading.get_ident()}.json")
        with open(tmp, "w") as f:
            json.dump(artifact_set.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.set_path(build))
        return artifact_set

    def load(self, build: str) -> ArtifactSet | None:
        try:
            with open(self.set_path(build)) as f:
                return ArtifactSet.from_json(json.load(f))
        except FileNotFoundError:
            return None

    def _ingest_file(self, path: str, fd: int, repo_type: RepoType) -> Entry:
        if repo_type is RepoType.RPM and not path.endswith(".rpm"):
            raise RejectedArtifact(f"artifact {path!r} is not an rpm package (its name must end .rpm)")
        sha256, size, first = self._store(fd, path, repo_type)
        if repo_type is not RepoType.RPM:
            return Entry(path, size, sha256)
        if not has_rpm_magic(first):
            raise RejectedArtifact(f"artifact {path!r} is not an rpm package")
        try:
            meta = self.fragments.get(sha256, path, self.blob(sha256))
        except NotAPackage as exc:
            raise RejectedArtifact(f"artifact {path!r} is not an rpm package ({exc})") from None
        return Entry(path, size, sha256, meta.header)

    def _store(self, fd: int, path: str, repo_type: RepoType) -> tuple[str, int, bytes]:
        """Copy the open file into the store; (sha256, size, first bytes)."""
        digest, size, first = hashlib.sha256(), 0, b""
        tmp = os.path.join(self.root, "tmp", f"blob-{os.getpid()}-{threading.get_ident()}")
        try:
            with open(tmp, "wb") as out:
                while chunk := os.read(fd, _CHUNK):
                    if size == 0:
                        first = chunk[:4]
                        if repo_type is RepoType.RPM and not has_rpm_magic(first):
                            raise RejectedArtifact(f"artifact {path!r} is not an rpm package")
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.blob(sha256)
            if os.path.exists(final):
                return sha256, size, first
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
            return sha256, size, first
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _check_unique_packages(entries: list[Entry]) -> None:
    """One package per name and arch in a set: a view keeps only one of them."""
    seen = {}
    for entry in entries:
        if entry.rpm is None:
            continue
        key = (entry.rpm.name, entry.rpm.arch)
        if key in seen:
            raise RejectedArtifact(f"artifacts {seen[key]!r} and {entry.path!r} are both "
                                   f"{entry.rpm.name}.{entry.rpm.arch}")
        seen[key] = entry.path

