"""Walk the directory an export job wrote ($GATEQ_ARTIFACTS) without ever
leaving it: every component is opened relative to its parent's descriptor
with O_NOFOLLOW, so a symlink swapped in at any moment cannot redirect the
walk, and only regular files with a single link are accepted.
"""
from __future__ import annotations

import os
import stat
from typing import Iterator

from .model import RejectedArtifact, check_relative

# Top-level names the repository itself uses (metadata, index, manifest).
RESERVED = frozenset({"repodata", "index.json", "manifest.json"})

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_export_dir(src_dir: str) -> int:
    """A descriptor on `src_dir`, which must be a real directory: its parent is
    the engine's, but the job could have replaced the directory itself."""
    parent = os.path.realpath(os.path.dirname(os.path.abspath(src_dir)))
    name = os.path.basename(os.path.abspath(src_dir))
    try:
        st = os.lstat(os.path.join(parent, name))
    except FileNotFoundError:
        raise RejectedArtifact("$GATEQ_ARTIFACTS was removed by the job") from None
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(os.path.join(parent, name))
        raise RejectedArtifact(f"$GATEQ_ARTIFACTS was replaced by a symbolic link to {target!r}:"
                               " it escapes the workspace")
    if not stat.S_ISDIR(st.st_mode):
        raise RejectedArtifact("$GATEQ_ARTIFACTS is not a directory")
    return os.open(os.path.join(parent, name), _DIR_FLAGS)


def walk_files(src_dir: str) -> Iterator[tuple[str, int]]:
    """Yield (relative path, open descriptor) for every file under `src_dir`,
    in sorted order; the caller closes each descriptor. Raise RejectedArtifact
    at the first entry that is not a plain regular file."""
    fd = open_export_dir(src_dir)
    try:
        yield from _walk(fd, "")
    finally:
        os.close(fd)


def _walk(dir_fd: int, prefix: str) -> Iterator[tuple[str, int]]:
    for name in sorted(os.listdir(dir_fd)):
        path = prefix + name
        check_relative(path)
        if not prefix and name in RESERVED:
            raise RejectedArtifact(f"artifact {path!r} uses a name the repository reserves")
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise RejectedArtifact(f"artifact {path!r} is a symbolic link")
        if stat.S_ISDIR(st.st_mode):
            sub = _open_checked(name, dir_fd, path, _DIR_FLAGS)
            try:
                yield from _walk(sub, path + "/")
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            yield path, _open_regular(name, dir_fd, path)
        else:
            raise RejectedArtifact(f"artifact {path!r} is not a regular file")


def _open_checked(name: str, dir_fd: int, path: str, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:     # ELOOP: it became a symlink since the stat
        raise RejectedArtifact(f"artifact {path!r} changed while it was read: {exc.strerror}") from None


def _open_regular(name: str, dir_fd: int, path: str) -> int:
    fd = _open_checked(name, dir_fd, path, _FILE_FLAGS)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise RejectedArtifact(f"artifact {path!r} is not a regular file")
    if st.st_nlink != 1:
        os.close(fd)
        raise RejectedArtifact(f"artifact {path!r} has other hard links: copy it, do not link it")
    return fd
