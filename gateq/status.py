"""The status snapshot that `gateq status` and the web read.

The scheduler's snapshot, with what only the engine knows: when each change
was enqueued, its page in its review system, how far the journal is read,
and the state of the connections, the intake and the outbox. Written when
the journal moves, and when a connection goes down or comes up.
"""
from __future__ import annotations

import time
from typing import Callable

from .core.snapshot import snapshot
from .core.types import Change

CONNECTIONS_SECONDS = 1.0    # how often the connections' state is looked at
STATUS_EVERY = 0.25          # seconds between status snapshots while busy


class StatusWriter:
    def __init__(self, store, review, connections, change_url: Callable[[str, str], "str | None"],
                 clock: Callable[[], float]) -> None:
        self.store, self.review, self.connections = store, review, connections
        self.change_url, self.clock = change_url, clock
        self.next_look = 0.0
        self.shown_connections: dict | None = None
        self.stale, self.written_at = False, 0.0

    def moved(self) -> None:
        """The journal moved: the snapshot written is stale."""
        self.stale = True

    def due(self, idle: bool) -> bool:
        """A stale snapshot is written once idle, or every STATUS_EVERY while
        busy. Written after every event, it was a quarter of the loop's
        time, and the only cost growing with the queue (each write is the
        whole queue)."""
        return self.stale and (idle or time.monotonic() - self.written_at >= STATUS_EVERY)

    def write(self, scheduler, cursor: int) -> None:
        """Raises DiskFull (the caller pauses)."""
        status = snapshot(scheduler)
        annotate(status, scheduler.state.index, self.change_url)
        status["cursor"] = cursor
        status["pending_events"] = self.store.pending_count(cursor)
        status.update(self.review.status())
        self.shown_connections = status["connections"]
        self.store.write_status(status)
        self.stale, self.written_at = False, time.monotonic()

    def connections_moved(self) -> bool:
        """A connection went down or came up since the status was written
        (looked at once every CONNECTIONS_SECONDS)."""
        now = self.clock()
        if now < self.next_look:
            return False
        self.next_look = now + CONNECTIONS_SECONDS
        return self.connections.status() != self.shown_connections


def annotate(status: dict, index: dict, change_url) -> None:
    """Each item and change of the snapshot gets when it was enqueued and
    its page in its review system, where it has one."""
    for pipeline in status["pipelines"]:
        for queue in pipeline["queues"]:
            for shown in queue["items"]:
                item = index.get(shown["item"])
                members = {m.id: m for m in item.members} if item else {}
                for change in shown.get("changes", ()):
                    member = members.get(change["item"])
                    change["enqueued_at"] = member.enqueued_at if member else None
                    change["url"] = page(member.change if member else None, change_url)
                shown["enqueued_at"] = item.members[0].enqueued_at if item else None
                shown["url"] = page(item.change if item else None, change_url)


def page(change: Change | None, change_url) -> str | None:
    if change is None:
        return None
    return change.url or change_url(change.project, change.ref)
