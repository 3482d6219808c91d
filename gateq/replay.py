"""Rebuild the scheduler from the store: the last checkpoint, then the journal.

The engine does it at start; recording commands do it to know what is
queued (a dequeue of a change that is not there is refused). Both see the
state the engine has, or will have once it has read the journal.
"""
from __future__ import annotations

from typing import Iterator

from .config.model import Config
from .core import checkpoint, relayout
from .core.actions import Action, ResultRecord
from .core.scheduler import Scheduler
from .state import StateError
from .state.errors import RESTORE


def restore(config: Config, store) -> tuple[Scheduler, int, list[ResultRecord]]:
    """The scheduler as of the last checkpoint, that checkpoint's journal row,
    and the results of the items the current layout can no longer run."""
    seq, data = store.last_checkpoint()
    try:
        state = checkpoint.load(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{store.path}: the checkpoint at journal row {seq} is incomplete "
                         f"({type(exc).__name__}: {exc}): {RESTORE}") from None
    pruned = relayout.prune(state, config.layout)
    return Scheduler(config.layout, config.slots, state), seq, pruned


def replay(scheduler: Scheduler, store, after: int) -> Iterator[tuple[int, list[Action]]]:
    """Feed every journal row after `after`; yield each row and its actions."""
    for seq, event in store.events_after(after):
        yield seq, scheduler.step(event)


def current(config: Config, store) -> Scheduler:
    """The scheduler once every recorded event is read."""
    scheduler, seq, _ = restore(config, store)
    for _ in replay(scheduler, store, seq):
        pass
    return scheduler
