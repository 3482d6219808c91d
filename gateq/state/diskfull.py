"""What the engine does when the disk is full: pause, keep, resume.

An answer that cannot be journaled is held in memory, in order, and the
scheduler sees nothing new until it is journaled: the journal stays the
one truth, so a kill while paused loses only answers that replay asks for
again. Actions that failed for want of space are put off, not failed: a
change is never ejected because the gate's own disk filled up.
"""
from __future__ import annotations

import errno
import logging
import os
from typing import Callable

from .errors import DiskFull

log = logging.getLogger("gateq.engine")

FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "database or disk is full")


def disk_full_reason(exc: BaseException) -> str | None:
    """One line if `exc` means the disk (or quota) is full, else None."""
    if isinstance(exc, DiskFull):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = str(exc)
    return text if any(t in text for t in FULL_TEXTS) else None


class DiskFullPause:
    """Invariant: while `active`, nothing is journaled and no action runs;
    `held` and `deferred` keep their order and are handed back once."""

    def __init__(self, clock: Callable[[], float], retry_seconds: float,
                 state_dir: str, min_free: int):
        self.clock = clock
        self.retry_seconds = retry_seconds
        self.state_dir, self.min_free = state_dir, min_free
        self.active = False
        self.reason: str | None = None
        self.held: list = []
        self.deferred: list = []
        self.next_try = 0.0

    def start(self, reason: str) -> None:
        if not self.active:
            log.error("disk full, the engine takes no new work until space is back: %s", reason)
        self.active, self.reason = True, reason
        self.next_try = self.clock() + self.retry_seconds

    def watch(self) -> None:
        """Pause before a write fails half-way, once space is short."""
        short = self.space_short()
        if short and not self.active:
            self.start(short)

    def space_short(self) -> str | None:
        return space_short(self.state_dir, self.min_free)

    def hold(self, event) -> None:
        self.held.append(event)

    def defer(self, actions: list) -> None:
        self.deferred.extend(actions)

    def due(self) -> bool:
        return self.active and self.clock() >= self.next_try

    def take(self) -> tuple[list, list]:
        """Everything held and put off, in order; the pause ends (for now)."""
        held, deferred = self.held, self.deferred
        self.held, self.deferred = [], []
        self.active, self.reason = False, None
        return held, deferred


def space_short(state_dir: str, min_free: int) -> str | None:
    """Why new work must wait (Zuul's executor governor: below state.min-free,
    take none, before a write fails half-way); None while there is room."""
    try:
        stat = os.statvfs(state_dir)
    except OSError:
        return None
    free = stat.f_bavail * stat.f_frsize
    if free >= min_free:
        return None
    return (f"{state_dir}: {free // 1024} KiB free, less than state.min-free "
            f"({min_free // 1024} KiB)")
