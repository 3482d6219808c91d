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

from .layering import Stacked, link_tree, overlay, provenance, write_files_index
from .model import Layer, RepoType
from .rpmmeta import PackageRef, write_repodata
from .store import ArtifactStore


def materialise(dest: str, repo_type: str, layers: Sequence[Layer], store: ArtifactStore,
                pool: str | None = None) -> dict:
    """Build the repository directory `dest` (new or empty) from `layers`,
    earliest first. Returns {"type", "artifacts": [every file with path,
    size, sha256 and the change, job and build that produced it]}."""
    stacked = build_repository(dest, repo_type, layers, store, pool=pool)
    return {"type": repo_type, "artifacts": provenance(stacked.artifacts)}


def build_repository(dest: str, repo_type: str, layers: Sequence[Layer], store: ArtifactStore,
                     published: bool = False, pool: str | None = None) -> Stacked:
    """Link the files `layers` make visible into `dest` and write its metadata,
    reusing the first layer's if it is a snapshot. `published`: durable, and
    indexed so that later repositories can reuse its metadata in turn."""
    stacked = overlay(repo_type, layers)
    link_tree(dest, stacked, store, pool)
    if RepoType(repo_type) is RepoType.RPM:
        refs = [PackageRef(a.entry.path, a.entry.sha256) for a in stacked.artifacts]
        write_repodata(dest, refs, store.fragments, store.blob,
                       base=stacked.base and stacked.base.path, published=published)
    else:
        write_files_index(dest, stacked.artifacts)
    return stacked
