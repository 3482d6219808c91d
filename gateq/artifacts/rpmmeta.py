"""Repository metadata (repodata/) assembled from cached pieces instead of
re-rendering every package, so adding one package to 5,000 costs little.

A metadata file is a gzip stream made of members: a header (with the package
count), one member per *chunk* of consecutive packages (~256 KiB of XML, so
compression stays close to a single stream), and a footer. gzip readers,
dnf and libsolv included, read concatenated members as one stream.
`gateq-chunks.json` beside the files records which packages each chunk
holds; with it a later repository reuses the unchanged chunks byte for byte,
rebuilds only the chunks that lost a package, and appends new packages to
the last chunk. Only the checksum of the uncompressed stream needs every
byte again (inflate and hash, both in C).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import createrepo_c as cr

from .durable import write_file
from .memo import FileMemo
from .rpmfragments import FragmentCache

KINDS = ("primary", "filelists", "other")
HEADS = {
    "primary": '<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/'
               'metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">\n',
    "filelists": '<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.'
                 'edu/metadata/filelists" packages="%d">\n',
    "other": '<?xml version="1.0" encoding="UTF-8"?>\n<otherdata xmlns="http://linux.duke.edu/'
             'metadata/other" packages="%d">\n',
}
FOOTS = {"primary": "</metadata>\n", "filelists": "</filelists>\n", "other": "</otherdata>\n"}
CHUNKS_INDEX = "gateq-chunks.json"
CHUNK_BYTES = 256 * 1024    # uncompressed XML per chunk, all three kinds together
LEVEL = 6                   # gzip's default, as createrepo_c


class PackageRef(NamedTuple):
    """A package of the repository: its location and content. A tuple, not a
    dataclass: a repository lists thousands and builds them for every view."""
    href: str
    sha256: str


@dataclass(frozen=True)
class Repodata:
    packages: int
    files: dict[str, str]          # kind -> path relative to the repository


@dataclass
class _Chunk:
    """Consecutive packages; `rows` are (href, sha256, [uncompressed length per
    kind]). Either `members` (gzip members, reused as is) or `raw` (XML per
    kind, still to compress) is known, or both."""
    rows: list = field(default_factory=list)
    members: dict[str, bytes] | None = None
    raw: dict[str, list[bytes]] | None = None
    size: int = 0
    inflated: dict[str, bytes] = field(default_factory=dict)   # kind -> XML, once read
    rows_text: str | None = None                               # `rows` as JSON, once written

    def __post_init__(self):
        self.size = sum(sum(row[2]) for row in self.rows)

    def xml(self, kind: str) -> bytes:
        if self.raw is not None:
            return b"".join(self.raw[kind])
        data = self.inflated.get(kind)
        if data is None:
            data = zlib.decompress(self.members[kind], 31)
            if len(data) != sum(row[2][KINDS.index(kind)] for row in self.rows):
                raise ValueError(f"{CHUNKS_INDEX} does not match the {kind} metadata it indexes")
            self.inflated[kind] = data
        return data

    def rows_json(self) -> str:
        if self.rows_text is None:
            self.rows_text = json.dumps(self.rows)
        return self.rows_text

    def split(self) -> _Chunk:
        """The same chunk with its XML cut per package, ready to edit."""
        raw = {}
        for i, kind in enumerate(KINDS):
            data, parts, pos = self.xml(kind), [], 0
            for row in self.rows:
                parts.append(data[pos:pos + row[2][i]])
                pos += row[2][i]
            raw[kind] = parts
        return _Chunk(list(self.rows), None, raw)

    def keep(self, wanted: set) -> _Chunk:
        kept = [i for i, row in enumerate(self.rows) if (row[0], row[1]) in wanted]
        if len(kept) == len(self.rows):
            return self
        whole = self.split()
        return _Chunk([whole.rows[i] for i in kept], None,
                      {k: [whole.raw[k][i] for i in kept] for k in KINDS})

    def add(self, ref: PackageRef, parts: Sequence[bytes]) -> None:
        self.rows.append((ref.href, ref.sha256, [len(p) for p in parts]))
        self.size += sum(len(p) for p in parts)
        for kind, part in zip(KINDS, parts):
            self.raw[kind].append(part)

    def compressed(self, kind: str) -> bytes:
        if self.members is None:
            self.members = {k: _gzip(b"".join(self.raw[k])) for k in KINDS}
        return self.members[kind]


def write_repodata(repo_dir: str, packages: Sequence[PackageRef], fragments: FragmentCache,
                   blob: Callable[[str], str], base: str | None = None,
                   published: bool = False, chunk_bytes: int = CHUNK_BYTES) -> Repodata:
    """Write `repo_dir`/repodata for `packages` (hrefs relative to `repo_dir`),
    reusing what `base` (a repository written with published=True) holds;
    `blob(sha256)` is the file of a package whose metadata is not cached.
    Packages keep the base's order; new ones follow in the given order.
    `published`: the files are synced to disk and indexed for later reuse."""
    chunks = _plan(packages, _load_chunks(base), fragments, blob, chunk_bytes)
    os.makedirs(os.path.join(repo_dir, "repodata"))
    stamp = int(time.time())
    repomd, files, members = cr.Repomd(), {}, {}
    repomd.set_revision(str(stamp))
    for kind in KINDS:
        record, offsets = _write_kind(repo_dir, kind, chunks, stamp, published)
        repomd.set_record(record)
        files[kind] = record.location_href
        members[kind] = offsets
    if published:
        _write_index(repo_dir, files, chunks, members)
        _PUBLISHED.put(os.path.join(repo_dir, "repodata", CHUNKS_INDEX), chunks)
    write_file(os.path.join(repo_dir, "repodata", "repomd.xml"), repomd.xml_dump().encode(),
               published)
    return Repodata(len(packages), files)


def _plan(packages: Sequence[PackageRef], base: list[_Chunk], fragments: FragmentCache,
          blob: Callable[[str], str], chunk_bytes: int) -> list[_Chunk]:
    wanted = dict.fromkeys(packages)
    if len(wanted) != len(packages):
        raise ValueError("a package is listed twice")
    chunks = []
    for chunk in base:
        chunk = chunk.keep(wanted.keys())
        if chunk.rows:
            chunks.append(chunk)
            for href, sha, _ in chunk.rows:
                del wanted[(href, sha)]
    if not wanted:
        return chunks
    last = chunks.pop().split() if chunks and chunks[-1].size < chunk_bytes else _new_chunk()
    for ref in wanted:
        if last.rows and last.size >= chunk_bytes:
            chunks.append(last)
            last = _new_chunk()
        meta = fragments.get(ref.sha256, ref.href, blob(ref.sha256))
        last.add(ref, [meta.part(kind) for kind in KINDS])
    chunks.append(last)
    return chunks


def _new_chunk() -> _Chunk:
    return _Chunk([], None, {k: [] for k in KINDS})


def _write_kind(repo_dir: str, kind: str, chunks: list[_Chunk], stamp: int, durable: bool
                ) -> tuple[cr.RepomdRecord, list[list[int]]]:
    count = sum(len(c.rows) for c in chunks)
    head, foot = (HEADS[kind] % count).encode(), FOOTS[kind].encode()
    parts, offsets = [_gzip(head)], []
    pos = len(parts[0])
    opened = hashlib.sha256(head)
    open_size = len(head) + len(foot)
    for chunk in chunks:
        member = chunk.compressed(kind)
        parts.append(member)
        offsets.append([pos, len(member)])
        pos += len(member)
        xml = chunk.xml(kind)
        opened.update(xml)
        open_size += len(xml)
    opened.update(foot)
    parts.append(_gzip(foot))
    data = b"".join(parts)
    digest = hashlib.sha256(data).hexdigest()
    href = f"repodata/{digest}-{kind}.xml.gz"
    write_file(os.path.join(repo_dir, href), data, durable)
    record = cr.RepomdRecord(kind)
    record.location_href = href
    record.checksum, record.checksum_type = digest, "sha256"
    record.checksum_open, record.checksum_open_type = opened.hexdigest(), "sha256"
    record.size, record.size_open, record.timestamp = len(data), open_size, stamp
    return record, offsets


def _write_index(repo_dir: str, files: dict, chunks: list[_Chunk], members: dict) -> None:
    """{"version", "files", "chunks": [{"packages": rows, kind: [offset, length]}]},
    written by hand so that an unchanged chunk's rows are encoded only once."""
    entries = ", ".join(
        '{"packages": %s, %s}' % (chunk.rows_json(), ", ".join(
            f'"{kind}": [{members[kind][i][0]}, {members[kind][i][1]}]' for kind in KINDS))
        for i, chunk in enumerate(chunks))
    text = '{"version": 1, "files": %s, "chunks": [%s]}' % (json.dumps(files), entries)
    write_file(os.path.join(repo_dir, "repodata", CHUNKS_INDEX), text.encode(), True)


# The chunks of the metadata this process published lately: the base of
# the next views and stagings, whose unchanged chunks are then neither read
# back from disk nor inflated again.
_PUBLISHED: FileMemo[list[_Chunk]] = FileMemo()


def _load_chunks(base: str | None) -> list[_Chunk]:
    """The chunks of `base`'s metadata, or none if it has no chunk index (a
    repository gateq did not write: everything is rendered from fragments)."""
    if base is None:
        return []
    remembered = _PUBLISHED.get(os.path.join(base, "repodata", CHUNKS_INDEX))
    if remembered is not None:
        return remembered
    try:
        with open(os.path.join(base, "repodata", CHUNKS_INDEX)) as f:
            index = json.load(f)
    except FileNotFoundError:
        return []
    data = {}
    for kind in KINDS:
        with open(os.path.join(base, index["files"][kind]), "rb") as f:
            data[kind] = f.read()
    return [_Chunk([tuple(row) for row in c["packages"]],
                   {k: data[k][c[k][0]:c[k][0] + c[k][1]] for k in KINDS})
            for c in index["chunks"]]


def _gzip(data: bytes) -> bytes:
    z = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()
