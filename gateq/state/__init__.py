"""Where the gate's truth lives: the journal, checkpoints, results, status.

`open_store` gives the store a configuration asks for (the SQLite state
directory today); every failure reading or writing it is a StateError, one
line naming the file and what to do.
"""
from .errors import DiskFull, NoState, StateError
from .sqlite import SqliteStore

__all__ = ["DiskFull", "NoState", "SqliteStore", "StateError", "open_store"]


def open_store(state_dir: str, create: bool = True) -> SqliteStore:
    """The store of `state_dir`; with create=False, NoState if none exists yet."""
    return SqliteStore(state_dir, create)
