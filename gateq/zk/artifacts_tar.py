"""Directories as tar streams between hosts, for the artifacts of builds on
executors (artifacts_served.py, artifacts_fetched.py). A view goes as
plain files: its hard links into the store and its symlinks into the
publisher's pool are followed, since the other host has neither. An
export goes as it is, links included, so that the store judges it as it
would judge it locally; it is unpacked only through tarfile's `data`
filter (no absolute or escaping names, no links out, no devices).
"""
from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from ..git.workspace import remove_tree

MAX_EXPORT_BYTES = 4 * 1024 ** 3     # an export's tar past this is refused: the change's fault
BUFFER = 1024 * 1024      # bytes per write or read of a stream (tarfile's own is 10 KiB)


class BadArchive(Exception):
    """What was sent is not a tar the `data` filter lets through; one line."""


def write_view(src: str, out: BinaryIO) -> None:
    """`src` as an uncompressed tar stream on `out`, every link followed."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUFFER) as tar:
        for top, dirs, files in os.walk(src, followlinks=True):
            dirs.sort()
            for name in dirs:
                path = os.path.join(top, name)
                tar.addfile(_info(os.path.relpath(path, src), os.stat(path)))
            for name in sorted(files):
                path = os.path.join(top, name)
                with open(path, "rb") as f:
                    tar.addfile(_info(os.path.relpath(path, src), os.fstat(f.fileno())), f)


def write_export(src: str, out: BinaryIO) -> None:
    """`src` as an uncompressed tar stream on `out`, links kept as links."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUFFER) as tar:
        for top, dirs, files in os.walk(src):
            dirs.sort()
            for name in (*dirs, *sorted(files)):
                path = os.path.join(top, name)
                tar.add(path, os.path.relpath(path, src), recursive=False)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


def extract(stream: BinaryIO, dest: str) -> None:
    """Unpack the tar `stream` into the new directory `dest`; on any failure
    nothing is left at `dest`. BadArchive if the tar is refused."""
    os.makedirs(dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=BUFFER) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        remove_tree(dest)
        raise BadArchive(f"artifact {exc}") from None      # "artifact 'x' is a link to ..."
    except tarfile.TarError as exc:
        remove_tree(dest)
        raise BadArchive(f"not a tar archive: {exc}") from None
    except BaseException:
        remove_tree(dest)
        raise
