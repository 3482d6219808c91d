"""Values larger than a znode may hold (checkpoints, the status): stored
compressed, cut in shards well under ZooKeeper's 1 MB limit, as children of
one node per version. A version's node is made first, empty; its shards
next; then its data says how many shards there are: a reader takes the
newest version that says so, so a writer killed half-way leaves nothing a
reader could take for whole. Older versions go once a newer one is whole.
"""
from __future__ import annotations

import json
import zlib

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

SHARD_BYTES = 512 * 1024


def write(client: KazooClient, parent: str, name: str, data: bytes) -> None:
    """`parent/name` holds `data` once this returns; older versions are gone."""
    packed = zlib.compress(data, 6)
    node = f"{parent}/{name}"
    if client.exists(node):
        client.delete(node, recursive=True)     # rewritten at the same name: last one wins
    client.create(node, b"", makepath=True)
    shards = [packed[i:i + SHARD_BYTES] for i in range(0, len(packed), SHARD_BYTES)] or [b""]
    for index, shard in enumerate(shards):
        client.create(f"{node}/s-{index:04d}", shard)
    header = {"shards": len(shards), "crc": zlib.crc32(packed), "size": len(data)}
    client.set(node, json.dumps(header).encode())
    prune(client, parent, below=name)


def read_latest(client: KazooClient, parent: str) -> tuple[str, bytes] | None:
    """(name, data) of the newest whole version, or None."""
    try:
        names = sorted(client.get_children(parent), reverse=True)
    except NoNodeError:
        return None
    for name in names:
        found = read(client, f"{parent}/{name}")
        if found is not None:
            return name, found
    return None


def read(client: KazooClient, node: str) -> bytes | None:
    """The version's data, or None while it is not whole. A whole version
    whose shards do not match its header raises ValueError."""
    try:
        raw, _ = client.get(node)
    except NoNodeError:
        return None
    if not raw:
        return None
    header = json.loads(raw)
    packed = b"".join(client.get(f"{node}/s-{i:04d}")[0] for i in range(header["shards"]))
    if zlib.crc32(packed) != header["crc"]:
        raise ValueError(f"{node}: its shards do not match its checksum")
    return zlib.decompress(packed)


def prune(client: KazooClient, parent: str, below: str) -> None:
    for name in client.get_children(parent):
        if name < below:
            client.delete(f"{parent}/{name}", recursive=True)
