"""Small memories of what this process derived from immutable files it wrote
or read lately (a snapshot's manifest, its metadata chunk index).

Every view and staging starts from its repository's current snapshot, so
remembering the last few files (one or two per repository) is enough.
Entries are keyed by the file's identity (device, inode, mtime, size),
never by its path: a snapshot directory is renamed into place after it is
written, and the number of a discarded snapshot is used again.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")

CAPACITY = 8        # enough for a few repositories, each current plus one staged


def identity(path: str) -> tuple[int, int, int, int] | None:
    """What tells one file from another at the same path; None if missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


class FileMemo(Generic[T]):
    """Values by file identity, the least recently used dropped first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._values: OrderedDict[tuple, T] = OrderedDict()

    def get(self, path: str) -> T | None:
        key = identity(path)
        if key is None or key not in self._values:
            return None
        self._values.move_to_end(key)
        return self._values[key]

    def put(self, path: str, value: T) -> None:
        key = identity(path)
        if key is None:
            raise FileNotFoundError(path)
        self._values[key] = value
        self._values.move_to_end(key)
        while len(self._values) > self.capacity:
            self._values.popitem(last=False)


class ObjectMemo(Generic[T]):
    """Values derived from particular objects (compared by identity), the
    least recently used dropped first; each entry keeps its object alive so
    that its id cannot be reused."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._values: OrderedDict[int, tuple[object, T]] = OrderedDict()

    def get(self, obj: object) -> T | None:
        entry = self._values.get(id(obj))
        if entry is None or entry[0] is not obj:
            return None
        self._values.move_to_end(id(obj))
        return entry[1]

    def put(self, obj: object, value: T) -> None:
        self._values[id(obj)] = (obj, value)
        self._values.move_to_end(id(obj))
        while len(self._values) > self.capacity:
            self._values.popitem(last=False)
