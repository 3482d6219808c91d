"""Content-addressed directories shared by views and snapshots.

An rpm repository keeps its packages in 16 buckets, `Packages/<x>/`, chosen
by a hash of the package name (16: a symlink costs about fifteen hard links
here, so few buckets of many packages is cheapest; see bench/publish.py). Each distinct bucket content is written once
under the repository's pool (`<publish root>/<repository>/pool/`), and views
and snapshots point at it with one symlink: building either costs the
buckets that changed (and the metadata), not one link per package.
Pooled directories are immutable; a new content gets a new directory.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from typing import Sequence

from .model import Artifact
from .store import ArtifactStore

BUCKETS_DIR = "Packages"


def bucket_path(name: str, filename: str) -> str:
    """Where an rpm package lives in a repository: Packages/<1 hex>/<file>."""
    return f"{BUCKETS_DIR}/{hashlib.sha256(name.encode()).hexdigest()[0]}/{filename}"


def pooled_dir(pool: str, files: Sequence[tuple[str, Artifact]], store: ArtifactStore) -> str:
    """The pool directory holding exactly `files` (name, artifact), made if new."""
    listing = "".join(f"{name}\0{a.entry.sha256}\n" for name, a in sorted(files, key=lambda f: f[0]))
    key = hashlib.sha256(listing.encode()).hexdigest()
    path = os.path.join(pool, key[:2], key)
    if os.path.isdir(path):
        return path
    tmp = os.path.join(pool, f".tmp-{os.getpid()}-{key[:16]}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name, artifact in files:
        os.link(store.blob(artifact.entry.sha256), os.path.join(tmp, name))
    _sync(tmp)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.rename(tmp, path)
    except OSError:                 # another process made the same directory first
        shutil.rmtree(tmp, ignore_errors=True)
    _sync(os.path.dirname(path))
    return path


def _sync(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
