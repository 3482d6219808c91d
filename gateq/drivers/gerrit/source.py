"""The gerrit source: stream-events as prepared ReviewEvents, handed to the
engine's `deliver` one at a time, and reconciliation so nothing is lost.

Two threads feed `deliver`, under one lock: the StreamReader's (events,
and on every (re)connection the branches synced and a reconciliation,
which StreamReader runs once the stream is open, so nothing falls between
the two) and a timer's (a reconciliation every `interval` seconds). An
event is prepared (its patch set fetched into the mirror) before it is
handed on; if that or `deliver` fails, the reader drops the stream and
connects again, and the reconciliation that follows finds what was lost.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

from ..base import Deliver, DriverError, NotFound, TriggerQuery
from ..records import ConnectionStatus, LinkState, ReviewEvent
from .backoff import Backoff
from .errors import GerritError
from .events import GerritEvent
from .stream import StreamReader
from .translate import review_event

if TYPE_CHECKING:
    from .connection import GerritConnection

log = logging.getLogger("gateq.gerrit")


@dataclass(frozen=True)
class ReconcileStats:
    runs: int = 0
    at: float | None = None
    queries: int = 0
    seconds: float | None = None
    error: str | None = None


class GerritSource:
    def __init__(self, connection: "GerritConnection", deliver: Deliver,
                 queries: Sequence[TriggerQuery], interval: float,
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.time) -> None:
        self.connection = connection
        self.deliver = deliver
        self.queries = tuple(queries)
        self.interval = interval
        self.clock = clock
        self.reader = StreamReader(connection.stream_ssh, self._on_event,
                                   on_connect=self._on_connect, backoff=backoff)
        self.stats = ReconcileStats()
        self.delivered = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._every_interval, daemon=True,
                                       name=f"gerrit-reconcile {connection.name}")

    def start(self) -> None:
        self.reader.start()
        self._timer.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.reader.stop(timeout)
        self._timer.join(timeout)

    def status(self) -> ConnectionStatus:
        link, stats = self.reader.status(), self.stats
        return ConnectionStatus(self.connection.name, "gerrit", LinkState(link.state.value),
                                link.since, link.last_error, link.connects, self.delivered,
                                stats.runs, stats.at, stats.queries, stats.seconds, stats.error)

    # -- the reader's thread ------------------------------------------------

    def _on_event(self, gerrit_event: GerritEvent) -> None:
        """An event whose patch set is gone is dropped with a warning; one
        that cannot be fetched (Gerrit unreachable) makes the reader
        connect again, and reconcile."""
        event = review_event(self.connection.name, gerrit_event)
        if event is None or not self.connection.serves(event.project):
            return
        try:
            prepared = self.connection.prepare(event)
        except NotFound as exc:
            log.warning("gerrit %s: %s event dropped: %s", self.connection.name,
                        event.kind.value, exc)
            return
        self._hand_on([prepared])

    def _on_connect(self) -> None:
        """Raises when Gerrit cannot answer: the reader connects again later."""
        self.connection.sync_branches()
        self.reconcile()

    # -- reconciliation -----------------------------------------------------

    def reconcile(self) -> None:
        began = self.clock()
        try:
            found = self.connection.reconcile(self.queries)
        except (DriverError, GerritError) as exc:
            self.stats = replace(self.stats, runs=self.stats.runs + 1, at=began, error=str(exc))
            raise
        self._hand_on(found.events)
        self.stats = ReconcileStats(self.stats.runs + 1, began, found.queries,
                                    found.seconds + found.fetch_seconds)
        log.info("gerrit %s: reconciled: %d changes from %d queries in %.1fs",
                 self.connection.name, len(found.events), found.queries,
                 found.seconds + found.fetch_seconds)

    def _every_interval(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.reconcile()
            except (DriverError, GerritError) as exc:
                log.warning("gerrit %s: reconciliation failed, next in %gs: %s",
                            self.connection.name, self.interval, exc)
            except Exception:        # the engine's deliver: keep the timer alive, say why
                log.exception("gerrit %s: reconciliation failed", self.connection.name)

    def _hand_on(self, events: Sequence[ReviewEvent]) -> None:
        with self._lock:
            for event in events:
                self.deliver(event)
                self.delivered += 1
