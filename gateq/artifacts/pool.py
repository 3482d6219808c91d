"""Content-addressed directories shared by views and snapshots.

An rpm repository keeps its packages in 16 buckets, `Packages/<x>/`, chosen
by a hash of the package name (16: a symlink costs about fifteen hard links
here, so few buckets of many packages is cheapest; see bench/publish.py). Each distinct bucket content is written once
under the repository's pool (`<publish root>/<repository>/pool/`), and views
and snapshots point at it with one symlink: building either costs the
buckets that changed (and the metadata), not one link per package.
Pooled directories are immutable, and read-only once complete, so that a
job writing through its view's symlink cannot change the published
snapshots sharing the directory; a new content gets a new directory.

  pool/<key[:2]>/<key>          a complete directory (0555), key = sha256 of its listing
  pool/.tmp-<pid>-<thread>-<key[:16]>    one being filled by process <pid>
  pool/<key[:2]>/.gc-<pid>-<key> one being deleted by the collector (gc.py)
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import threading
from typing import Sequence

from .durable import sync_dir
from .failpoints import Failpoint, failpoint
from .model import Artifact
from .store import ArtifactStore

BUCKETS_DIR = "Packages"
READ_ONLY = 0o555
TRASH_PREFIX = ".gc-"
_KEY = re.compile(r"[0-9a-f]{64}")
_TMP = re.compile(r"\.tmp-(\d+)-")


def bucket_path(name: str, filename: str) -> str:
    """Where an rpm package lives in a repository: Packages/<1 hex>/<file>."""
    return f"{BUCKETS_DIR}/{hashlib.sha256(name.encode()).hexdigest()[0]}/{filename}"


def pooled_dir(pool: str, files: Sequence[tuple[str, Artifact]], store: ArtifactStore) -> str:
    """The pool directory holding exactly `files` (name, artifact), made if new."""
    listing = "".join(f"{name}\0{a.entry.sha256}\n" for name, a in sorted(files, key=lambda f: f[0]))
    key = hashlib.sha256(listing.encode()).hexdigest()
    path = os.path.join(pool, key[:2], key)
    if os.path.isdir(path):
        seal(path)
        return path
    tmp = os.path.join(pool, f".tmp-{os.getpid()}-{threading.get_ident()}-{key[:16]}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for name, artifact in files:
        os.link(store.blob(artifact.entry.sha256), os.path.join(tmp, name))
    sync_dir(tmp)
    failpoint(Failpoint.POOL_FILLED)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.rename(tmp, path)
    except OSError:                 # another process made the same directory first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        failpoint(Failpoint.POOL_PLACED)
        # Sealed only once in place: moving a directory to another parent
        # needs write permission on it (its `..` entry changes).
        os.chmod(path, READ_ONLY)
    sync_dir(os.path.dirname(path))
    return path


def seal(path: str) -> None:
    """Make a complete pool directory read-only if it is not (a crash
    between its rename and its chmod leaves it writable)."""
    if os.stat(path).st_mode & 0o222:
        os.chmod(path, READ_ONLY)


def unseal(path: str) -> None:
    """Let the owner delete the directory's entries again (the collector)."""
    if not os.lstat(path).st_mode & stat.S_IWUSR:
        os.chmod(path, 0o755)


def is_complete(name: str) -> bool:
    """Whether a name under pool/<xx>/ is a complete directory's key."""
    return _KEY.fullmatch(name) is not None


def filling_pid(name: str) -> int | None:
    """The process filling pool/<name>, if it is a directory being filled."""
    match = _TMP.match(name)
    return int(match.group(1)) if match else None
