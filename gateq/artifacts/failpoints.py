"""Named points of the publication sequence where a test kills the engine
as `kill -9` would (os._exit: no cleanup, no flushing), chosen by the
environment variable GATEQ_FAILPOINT:

  GATEQ_FAILPOINT=<point>        die the first time <point> is reached
  GATEQ_FAILPOINT=recovery#<k>   die at the k-th point reached while a start
                                 recovers an interrupted landing

Every point is listed in `Failpoint`, in the order a landing reaches them,
so that tests can be run for each one (tests/test_publish_crash.py).
"""
from __future__ import annotations

import contextlib
import os
from enum import Enum
from typing import Iterator

EXIT_CODE = 137          # what a shell reports for a process killed by SIGKILL
RECOVERY = "recovery"


class Failpoint(Enum):
    """Each point is reached just after the step its comment names."""
    POOL_FILLED = "pool-filled"        # a pool directory filled under its temporary name
    POOL_PLACED = "pool-placed"        # ... renamed to its key, not yet read-only
    STAGING = "staging"                # a staging's files and index written, no manifest yet
    STAGED = "staged"                  # one repository's staging complete and synced
    INTENT_TMP = "intent-tmp"          # the intent written under its temporary name
    INTENT_WRITTEN = "intent-written"  # the intent in place; git not asked yet
    AFTER_LAND = "after-land"          # git moved the branch; nothing renamed yet
    LAND_FAILED = "land-failed"        # git refused to move it; the stagings still there
    PLACED = "placed"                  # one staging renamed to its number
    SWITCHING = "switching"            # the next `current` link made beside it
    SWITCHED = "switched"              # `current` points at the new snapshot
    PRUNING = "pruning"                # an old snapshot renamed aside, not yet removed
    PRUNED = "pruned"                  # one repository's old snapshots removed
    SETTLED = "settled"                # every repository published; intent still there
    PUBLISHED = "published"            # intent removed; the landing not yet journaled
    DISCARDED = "discarded"            # git did not move: one repository's staging removed
    SWEPT = "swept"                    # recovery removed one leftover snapshot directory


RECOVERY_ONLY = frozenset({Failpoint.SWEPT})   # reached only while a start recovers


def failpoint(point: Failpoint) -> None:
    """Die here if GATEQ_FAILPOINT asks for this point (see the module docstring)."""
    wanted = os.environ.get("GATEQ_FAILPOINT")
    if not wanted:
        return
    if wanted == point.value or _count_in_phase(wanted):
        os.write(2, f"gateq: failpoint {point.value}: exiting\n".encode())
        os._exit(EXIT_CODE)


_phase: list[str] = []           # the phase being run (recovery), innermost last
_reached: dict[str, int] = {}    # points reached in each phase


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the points reached inside this block under `name`."""
    _phase.append(name)
    _reached[name] = 0
    try:
        yield
    finally:
        _phase.pop()


def _count_in_phase(wanted: str) -> bool:
    if not _phase:
        return False
    name = _phase[-1]
    _reached[name] = _reached.get(name, 0) + 1
    return wanted == f"{name}#{_reached[name]}"
