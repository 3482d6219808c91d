"""Writes that must survive a crash: what is published, and what decides
what may be removed, is synced to disk before the step that relies on it.
"""
from __future__ import annotations

import os


def write_file(path: str, data: bytes, durable: bool = True) -> None:
    """Write `path` whole; with `durable`, on disk before this returns."""
    with open(path, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def sync_dir(path: str) -> None:
    """Make the entries of directory `path` (names made, renamed, removed) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
