"""The records every artifacts module passes around: files, their provenance,
and the two kinds of layer a repository is assembled from (an export build's
artifact set, the content of a published snapshot).

All frozen: a layer read from the store or from a manifest never changes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum
from typing import Union


class RepoType(str, Enum):
    RPM = "rpm"
    FILES = "files"


class RejectedArtifact(Exception):
    """What an export job wrote cannot be published; the message is one line."""


@dataclass(frozen=True)
class RpmHeader:
    """The identity of a package, read from its header at ingestion."""
    name: str
    epoch: str
    version: str
    release: str
    arch: str

    @property
    def nevra(self) -> str:
        epoch = "" if self.epoch in ("", "0") else f"{self.epoch}:"
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"


@dataclass(frozen=True)
class Entry:
    """One file of a repository: `path` is relative to the repository root."""
    path: str
    size: int
    sha256: str
    rpm: RpmHeader | None = None

    def to_json(self) -> dict:
        data = {"path": self.path, "size": self.size, "sha256": self.sha256}
        if self.rpm:
            data.update(name=self.rpm.name, epoch=self.rpm.epoch, version=self.rpm.version,
                        release=self.rpm.release, arch=self.rpm.arch)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Entry:
        rpm = None
        if "name" in data:
            rpm = RpmHeader(data["name"], data["epoch"], data["version"], data["release"],
                            data["arch"])
        return cls(data["path"], data["size"], data["sha256"], rpm)


@dataclass(frozen=True)
class Provenance:
    """Which change, job and build produced a file."""
    change: str
    job: str
    build: str


@dataclass(frozen=True)
class Artifact:
    entry: Entry
    origin: Provenance

    def to_json(self) -> dict:
        return {**self.entry.to_json(), "change": self.origin.change,
                "job": self.origin.job, "build": self.origin.build}

    @classmethod
    def from_json(cls, data: dict) -> Artifact:
        return cls(Entry.from_json(data), Provenance(data["change"], data["job"], data["build"]))


@dataclass(frozen=True)
class ArtifactSet:
    """What one export build wrote, as validated and stored (possibly nothing)."""
    build: str
    job: str
    change: str
    repo_type: str
    entries: tuple[Entry, ...]

    def artifacts(self) -> tuple[Artifact, ...]:
        """The set's files at their place in a repository: rpm packages go
        to their bucket (see pool.py), other files stay where the job put them."""
        from .pool import bucket_path
        origin = Provenance(self.change, self.job, self.build)
        if self.repo_type != RepoType.RPM.value:
            return tuple(Artifact(e, origin) for e in self.entries)
        return tuple(Artifact(replace(e, path=bucket_path(e.rpm.name, e.path.rsplit("/", 1)[-1])), origin)
                     for e in self.entries)

    def to_json(self) -> dict:
        return {"build": self.build, "job": self.job, "change": self.change,
                "type": self.repo_type, "entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: dict) -> ArtifactSet:
        return cls(data["build"], data["job"], data["change"], data["type"],
                   tuple(Entry.from_json(e) for e in data["entries"]))


@dataclass(frozen=True)
class SnapshotContent:
    """The files of a published snapshot with the provenance its manifest
    records; `path` is the snapshot directory, whose metadata later
    repositories reuse."""
    repository: str
    number: int
    path: str
    contents: tuple[Artifact, ...]

    def artifacts(self) -> tuple[Artifact, ...]:
        return self.contents


Layer = Union[ArtifactSet, SnapshotContent]


_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def check_relative(path: str) -> None:
    """Raise RejectedArtifact unless `path` stays inside the directory it is
    relative to: repository paths come from jobs and from manifests on disk."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise RejectedArtifact(f"artifact {path!r} escapes $GATEQ_ARTIFACTS")
    if _UNSAFE.search(path):
        raise RejectedArtifact(f"artifact {path!r} has a control character or backslash in its name")
