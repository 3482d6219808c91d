"""The engine's log lines about items, as a maintainer wants to read them:
one when a change is enqueued, one when its item is finished."""
from __future__ import annotations

import logging

from .core.state import State

log = logging.getLogger("gateq.engine")


def log_enqueued(state: State, first_new: int) -> None:
    """The changes numbered from `first_new` on that the queue holds."""
    for change_id in range(first_new, state.next_item):
        item = state.holders.get(change_id)
        if item is not None:
            change = next(m.change for m in item.members if m.id == change_id)
            joined = f", in the batch of item {item.id}" if change_id != item.id else ""
            log.info("item %d %s (%s) enqueued in %s, queue %s%s", change_id, change.name,
                     change.revision[:12], item.pipeline, item.queue, joined)


def log_result(record: dict) -> None:
    what = f"{record['result']}" + (f": {record['reason']}" if record.get("reason") else "")
    log.info("item %s %s:%s %s %s", record["item"], record["project"], record["change"],
             record["pipeline"], what)
