"""Tiny real filesystems for tests of a full disk or a read-only state directory.

A tmpfs of a few MiB is mounted (root only) and unmounted by the test. In CI
(CI=true) a test that cannot mount one fails instead of skipping: the
behaviour it checks would otherwise go untested.
"""
from __future__ import annotations

import contextlib
import os
import subprocess

from unavailable import unavailable


def _unavailable(why: str):
    unavailable(f"cannot mount a test filesystem: {why}")


@contextlib.contextmanager
def tmpfs(path: str, size: str = "16m"):
    """Mount a tmpfs of `size` at `path` (created); unmount it afterwards."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        _unavailable("mounting needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        _unavailable(done.stderr.strip())
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], capture_output=True)


def remount(path: str, mode: str) -> None:
    """mode: 'ro' or 'rw'."""
    subprocess.run(["mount", "-o", f"remount,{mode}", path], check=True, capture_output=True)


def fill(path: str, name: str = "filler") -> str:
    """Write into `path` until the filesystem is full; the filler's path."""
    filler = os.path.join(path, name)
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    # The last blocks: small writes fill what a 64 KiB chunk could not.
    with open(filler, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler
