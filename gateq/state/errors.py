"""Errors of the state store: each one line, naming the file and what to do."""
from __future__ import annotations

import errno
import json
import sqlite3

RESTORE = ("restore it from a backup, or move the state directory aside to start a new gate "
           "(whatever it recorded would be lost)")


class StateError(Exception):
    """The state directory cannot be used as it is; the message says why and what to do."""


class NoState(StateError):
    """Nothing was ever recorded in this state directory (read-only commands show nothing)."""


class DiskFull(StateError):
    """No space left where the state lives: nothing was half-written, retry once space returns."""


def from_sqlite(path: str, exc: sqlite3.Error, doing: str) -> StateError:
    """A sqlite3 error as one line about `path`."""
    text = str(exc)
    if "full" in text or ("disk I/O error" in text and no_space_at(path)):
        return DiskFull(f"{path}: cannot {doing}: no space left on the device "
                        "(nothing was half-written; free some space and it goes on)")
    if "readonly" in text or "read-only" in text:
        return StateError(f"{path}: cannot {doing}: the database or its directory is read-only "
                          "(make the state directory writable for this user)")
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return StateError(f"{path}: the database is corrupt ({text}): {RESTORE}")
    if "unable to open" in text:
        return StateError(f"{path}: cannot open the database (check that the state directory "
                          "exists, is a directory and is readable and writable by this user)")
    if "locked" in text or "busy" in text:
        return StateError(f"{path}: cannot {doing}: the database stayed locked by another process "
                          "for 30 s (is a command or an engine stuck on it?)")
    return StateError(f"{path}: cannot {doing}: {text}")


def no_space_at(path: str) -> bool:
    """SQLite says "disk I/O error" when it cannot grow its -wal or -shm file."""
    import os
    try:
        stat = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def from_os(path: str, exc: OSError, doing: str) -> StateError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"{path}: cannot {doing}: no space left on the device "
                        "(nothing was half-written; free some space and it goes on)")
    return StateError(f"{path}: cannot {doing}: {exc.strerror or exc}")


def json_object(path: str, what: str, text: "str | bytes") -> dict:
    """A JSON object the store holds (a checkpoint, a result, the status),
    or one line saying it is damaged and what to do."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StateError(f"{path}: {what} cannot be read ({exc}): {RESTORE}") from None
    if not isinstance(value, dict):
        raise StateError(f"{path}: {what} is not an object: {RESTORE}")
    return value
