"""Each package's repository metadata, rendered once and kept in the store.

createrepo_c renders a package's primary, filelists and other XML from its
header; the result depends only on the file's content and its location in
the repository, so it is cached under (sha256, location). Assembling a
repository's metadata then never reads an rpm header again.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass

import createrepo_c as cr

from .model import RpmHeader

RPM_LEAD_MAGIC = b"\xed\xab\xee\xdb"
CHANGELOG_LIMIT = 10        # createrepo_c's default: clients show recent entries only


class NotAPackage(Exception):
    """The file is not an rpm package createrepo_c can read."""


@dataclass(frozen=True)
class PackageMeta:
    """A package's identity and its three metadata fragments (uncompressed XML)."""
    header: RpmHeader
    primary: bytes
    filelists: bytes
    other: bytes

    def part(self, kind: str) -> bytes:
        return getattr(self, kind)


def has_rpm_magic(first_bytes: bytes) -> bool:
    return first_bytes[:4] == RPM_LEAD_MAGIC


def read_package(path: str, href: str) -> PackageMeta:
    """Render the metadata of the rpm at `path`, located at `href` in its repository."""
    with open(path, "rb") as f:
        if not has_rpm_magic(f.read(4)):
            raise NotAPackage("no rpm lead")
    try:
        pkg = cr.package_from_rpm(path, cr.SHA256, location_href=href,
                                  changelog_limit=CHANGELOG_LIMIT)
    except (OSError, cr.CreaterepoCError):
        raise NotAPackage("createrepo_c cannot read its header") from None
    header = RpmHeader(pkg.name, str(pkg.epoch or "0"), pkg.version, pkg.release, pkg.arch)
    return PackageMeta(header, cr.xml_dump_primary(pkg).encode(),
                       cr.xml_dump_filelists(pkg).encode(), cr.xml_dump_other(pkg).encode())


class FragmentCache:
    """PackageMeta records under `root`, one JSON file per (sha256, href)."""

    def __init__(self, root: str):
        self.root = root

    def path(self, sha256: str, href: str) -> str:
        where = hashlib.sha256(href.encode()).hexdigest()[:16]
        return os.path.join(self.root, sha256[:2], f"{sha256[2:]}-{where}.json")

    def get(self, sha256: str, href: str, blob: str) -> PackageMeta:
        """The cached record, rendered from `blob` (the rpm itself) when missing."""
        path = self.path(sha256, href)
        try:
            with open(path) as f:
                return _decode(json.load(f))
        except FileNotFoundError:
            pass
        meta = read_package(blob, href)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"   # views are made on threads
        with open(tmp, "w") as f:
            json.dump(_encode(meta), f)
        os.replace(tmp, path)
        return meta


def _encode(meta: PackageMeta) -> dict:
    h = meta.header
    return {"name": h.name, "epoch": h.epoch, "version": h.version, "release": h.release,
            "arch": h.arch, "primary": meta.primary.decode(),
            "filelists": meta.filelists.decode(), "other": meta.other.decode()}


def _decode(data: dict) -> PackageMeta:
    header = RpmHeader(data["name"], data["epoch"], data["version"], data["release"], data["arch"])
    return PackageMeta(header, data["primary"].encode(), data["filelists"].encode(),
                       data["other"].encode())
