"""The repository a build sees at $GATEQ_REPOS/<repository>: the published
snapshot, then the exports of the items ahead (head first), then those of
the build's own item, stacked with the layering rules.

Cheap enough to build for every build: files are hard links from the
store, and rpm metadata reuses the published snapshot's, so a view costs
about one link per file plus the packages the layers add. Snapshots are
built by the same function.
"""
from __future__ import annotations

from typing import Sequence

from .layering import link_tree, overlay, provenance, write_files_index
from .model import Artifact, Layer, RepoType, SnapshotContent
from .rpmmeta import PackageRef, write_repodata
from .store import ArtifactStore


def materialise(dest: str, repo_type: str, layers: Sequence[Layer], store: ArtifactStore,
                pool: str | None = None) -> dict:
    """Build the repository directory `dest` (new or empty) from `layers`,
    earliest first. Returns {"type", "artifacts": [every file with path,
    size, sha256 and the change, job and build that produced it]}."""
    artifacts = build_repository(dest, repo_type, layers, store, pool=pool)
    return {"type": repo_type, "artifacts": provenance(artifacts)}


def build_repository(dest: str, repo_type: str, layers: Sequence[Layer], store: ArtifactStore,
                     published: bool = False, pool: str | None = None,
                     becomes: tuple | None = None) -> list[Artifact]:
    """Link the files `layers` make visible into `dest` and write its metadata,
    reusing the first layer's if it is a snapshot. `published`: durable, and
    indexed so that later repositories can reuse its metadata in turn."""
    artifacts = overlay(repo_type, layers, becomes)
    link_tree(dest, artifacts, store, pool)
    if RepoType(repo_type) is RepoType.RPM:
        base = layers[0].path if layers and isinstance(layers[0], SnapshotContent) else None
        refs = [PackageRef(a.entry.path, a.entry.sha256, store.blob(a.entry.sha256))
                for a in artifacts]
        write_repodata(dest, refs, store.fragments, base=base, published=published)
    else:
        write_files_index(dest, artifacts)
    return artifacts
