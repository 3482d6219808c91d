"""What the connections hear, into the journal, without the loop waiting.

1. A connection's `deliver` (on its own thread) only writes the event to
   the store's intake (state/intake.py, or zk/intake.py: ZooKeeper, where
   a standby scheduler on another host takes it up), on a store for that
   thread (`for_thread`): durable at once, so a stream that hands it over
   loses nothing; hook scripts and webhooks write there too.
2. The loop hands each new row to its connection's lane (workers.py): one
   thread per connection, so events of one system keep their order and a
   system that is slow to answer holds up no other. The lane prepares a
   hook's event, or one heard on another host (fetching its commits into
   this host's mirror), asks what the TriggerEvent needs
   (events.py) and posts the result.
3. The loop decides what to journal (the engine's `journal_review`): the
   TriggerEvent and the row's end go in one transaction.
A system that cannot be reached leaves the row pending, asked again after
a delay that doubles; a restart takes up every row still pending. Rows
done (journaled or dropped) are forgotten after KEEP_DONE: the journal
holds what they became, and ZooKeeper keeps every row in memory.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from typing import Callable, Protocol

from ..drivers.base import Connection, Deliver, DriverError, NotFound, Unreachable
from ..drivers.records import Origin, ReviewEvent
from ..git.repo import GitError, has_commit
from ..state import StateError
from ..workers import Answer, Inbox, Lane
from .connections import Connections
from .events import Built, EventBuilder, Ignored

log = logging.getLogger("gateq.engine")

RETRY_FIRST, RETRY_MAX = 2.0, 120.0     # seconds before asking an unreachable system again
KEEP_DONE, PRUNE_EVERY = 86400.0, 3600.0    # seconds a done row is kept; between two prunes


class Sink(Protocol):
    """The loop's side: what becomes of a row (engine.py)."""
    def journal_review(self, row: int, built: Built) -> None: ...
    def drop_review(self, row: int, reason: str) -> None: ...


class Intake:
    def __init__(self, connections: Connections, builder: EventBuilder, inbox: Inbox,
                 sink: Sink, clock: Callable[[], float], thread_store: Callable[[], object]
                 ) -> None:
        """`thread_store()`: a store the calling thread may write the intake to."""
        self.connections = connections
        self.thread_store = thread_store
        self.builder = builder
        self.inbox = inbox
        self.sink = sink
        self.clock = clock
        self.lanes = {name: Lane(f"intake {name}", inbox) for name in connections.by_name}
        self.taken = 0                          # the last row handed to a lane
        self.retries: dict[int, tuple[float, float, dict]] = {}   # row: (due, delay, row)
        self.pruned_at = 0.0
        self._local = threading.local()

    # -- the connections' threads -------------------------------------------

    def deliver_for(self, name: str) -> Deliver:
        def deliver(event: ReviewEvent) -> None:
            store = getattr(self._local, "store", None)
            if store is None:
                store = self._local.store = self.thread_store()
            store.intake_add(name, json.dumps(event.as_dict(), sort_keys=True), self.clock())
            self.inbox.ready.set()          # the loop looks now
        return deliver

    # -- the loop -------------------------------------------------------------

    def poll(self, store) -> None:
        """Hand new rows (and those due again) to their lanes."""
        now = self.clock()
        for row_id, (due, delay, row) in list(self.retries.items()):
            if due <= now:
                self.retries[row_id] = (math.inf, delay, row)    # once, until it is answered
                self.submit(row)
        for row in store.intake_pending(after=self.taken, limit=500):
            self.taken = max(self.taken, row["id"])
            if row["id"] not in self.retries:
                self.submit(row)
        if now - self.pruned_at >= PRUNE_EVERY:
            self.pruned_at = now
            self.prune(store, now)

    def prune(self, store, now: float) -> None:
        try:
            store.intake_prune(now - KEEP_DONE)
        except StateError as exc:        # a full disk, ZooKeeper away: the next prune will do
            log.warning("review events done before a day ago not forgotten yet: %s", exc)

    def again(self, row: int) -> None:
        """The row's answer could not be journaled (a full disk): take it up again."""
        self.taken = min(self.taken, row - 1)

    def busy(self) -> bool:
        """Rows handed out and not answered (rows waiting for a system that
        is down do not count: `run --until-idle` does not wait for them)."""
        return any(lane.busy for lane in self.lanes.values())

    def stop(self, timeout: float) -> None:
        for lane in self.lanes.values():
            lane.stop(timeout)

    def submit(self, row: dict) -> None:
        lane = self.lanes.get(row["connection"])
        if lane is None:
            self.sink.drop_review(row["id"], f"connection {row['connection']} is not in the "
                                  "configuration")
            return
        try:
            event = ReviewEvent.from_dict(json.loads(row["event"]))
        except (ValueError, TypeError, KeyError) as exc:
            self.sink.drop_review(row["id"], f"unreadable review event: {exc}")
            return
        lane.submit(lambda: self.prepare(row, event))

    # -- a lane ---------------------------------------------------------------

    def prepare(self, row: dict, event: ReviewEvent) -> Answer:
        connection = self.connections[row["connection"]]
        try:
            if needs_preparing(connection, event):
                event = connection.prepare(event)
            built = self.builder.build(connection, event)
        except Ignored as exc:
            return lambda reason=str(exc): self.sink.drop_review(row["id"], reason)
        except Unreachable as exc:
            return lambda reason=str(exc): self.retry(row, reason)
        except (NotFound, DriverError) as exc:
            return lambda reason=str(exc): self.sink.drop_review(row["id"], reason)
        return lambda: self.done(row["id"], built)

    def done(self, row: int, built: Built) -> None:
        self.retries.pop(row, None)
        self.sink.journal_review(row, built)

    def retry(self, row: dict, reason: str) -> None:
        _, delay, _ = self.retries.get(row["id"], (0.0, RETRY_FIRST / 2, row))
        delay = min(RETRY_MAX, delay * 2)
        self.retries[row["id"]] = (self.clock() + delay, delay, row)
        log.warning("review event %d of %s: asked again in %gs: %s", row["id"], row["connection"],
                    delay, reason)


def needs_preparing(connection: Connection, event: ReviewEvent) -> bool:
    """A hook's event, or one whose commit is not here: heard and prepared
    by a scheduler on another host (ZooKeeper), into that host's mirror."""
    if event.origin is Origin.HOOK:
        return True
    revision = event.change.revision if event.change is not None else None
    if revision is None:
        return False
    try:
        return not has_commit(connection.repo_path(event.project), revision)
    except (GitError, OSError):
        return True
