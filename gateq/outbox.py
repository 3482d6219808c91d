"""The outbox: reports to review systems, journaled with the results and
delivered by one worker thread per connection, so a report that cannot go
out never holds up the gate loop nor another connection's reports.

- Never lost: a report is a row of the store (`outbox`: the state
  database, or ZooKeeper, gateq/zk/outbox.py), written in the transaction
  that records its result (`enqueue`, or the store's
  add_result_with_reports); undelivered rows are picked up after a
  restart, or by the standby scheduler that takes over, on any host.
- Retried: each attempt has a timeout; a failed one is retried after a
  delay doubling from `initial` up to `maximum` (jittered). A report the
  system refuses (it ran and said no) is kept as refused, with the reason.
- Delivered once: an attempt is counted before it starts, and marked
  after it succeeded. A report with an attempt behind it may have arrived
  (a timeout, a kill between sending and marking), so the reporter is
  asked whether the system shows it (by the report's id) before it is
  sent again.
- In order per change: a report waits for earlier ones on the same change.
"""
from __future__ import annotations

import enum
import json
import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from .artifacts.failpoints import failpoint
from .drivers.base import DriverError, ReportRefused, Reporter
from .drivers.records import Report
from .state import SqliteStore, StateError

StoreOpener = Callable[[], SqliteStore]     # a store for the calling thread (for_thread)

log = logging.getLogger("gateq.outbox")


class OutboxFailpoint(enum.Enum):
    """Where tests kill a worker (GATEQ_FAILPOINT, see artifacts/failpoints.py)."""
    SENDING = "outbox-sending"          # the attempt counted, nothing sent yet
    DELIVERED = "outbox-delivered"      # the system has it; not yet marked


@dataclass(frozen=True)
class OutboxSettings:
    attempt_timeout: float = 30.0       # seconds one attempt (or one check) may take
    initial: float = 2.0                # first retry delay, seconds
    maximum: float = 300.0              # the delay stops doubling here
    keep: float = 7 * 86400.0           # delivered and refused rows are forgotten after this
    idle_poll: float = 5.0              # a worker looks again this often without a wake-up


def new_id() -> str:
    return secrets.token_hex(8)


def target_of(report: Report) -> str:
    """Reports on one change go out in order."""
    change = report.change
    return f"{report.project}:{change.number if change.number is not None else change.ref}"


def rows(reports: Iterable[tuple[str, Report]]) -> list[tuple[str, str, str, str]]:
    """(key, report) as the store keeps them; `key` makes queueing idempotent
    (the engine replays its actions), e.g. "item 12 result review"."""
    return [(key, r.connection, target_of(r), json.dumps(r.as_dict(), sort_keys=True))
            for key, r in reports]


def enqueue(store: SqliteStore, reports: Iterable[tuple[str, Report]],
            now: float | None = None) -> int:
    """Queue reports; returns how many were new. Call `Outbox.wake` after."""
    return store.outbox_add(rows(reports), time.time() if now is None else now)


class Outbox:
    def __init__(self, stores: StoreOpener | str, reporters: Mapping[str, Reporter],
                 settings: OutboxSettings = OutboxSettings(),
                 clock: Callable[[], float] = time.time,
                 per_connection: Mapping[str, OutboxSettings] | None = None) -> None:
        """`stores`: gives each worker thread its store (the engine's
        store's `for_thread`), or a state directory: its SQLite database.
        `per_connection`: the settings of connections that set their own
        (a report timeout, a retry delay), the others take `settings`."""
        if isinstance(stores, str):
            state_dir = stores
            stores = lambda: SqliteStore(state_dir, create=False)     # noqa: E731
        chosen = dict(per_connection or {})
        self.workers = {name: _Worker(stores, name, reporter, chosen.get(name, settings), clock)
                        for name, reporter in reporters.items()}

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to stop; one in an attempt stops once it ends
        (its timeout bounds that)."""
        for worker in self.workers.values():
            worker.stopping.set()
            worker.wake.set()
        for worker in self.workers.values():
            worker.join(timeout)

    def wake(self) -> None:
        """New rows were queued: look now rather than at the next poll."""
        for worker in self.workers.values():
            worker.wake.set()

    @staticmethod
    def stats(store: SqliteStore) -> dict[str, dict]:
        """Per connection: pending, failing, refused, delivered, the oldest
        pending report's time and the last error (for status and metrics)."""
        return store.outbox_stats()


class _Worker(threading.Thread):
    def __init__(self, stores: StoreOpener, connection: str, reporter: Reporter,
                 settings: OutboxSettings, clock: Callable[[], float]) -> None:
        super().__init__(daemon=True, name=f"outbox {connection}")
        self.stores, self.connection, self.reporter = stores, connection, reporter
        self.settings, self.clock = settings, clock
        self.stopping, self.wake = threading.Event(), threading.Event()
        self.rng = random.Random()
        self.pruned_at = 0.0

    def run(self) -> None:
        store = self.stores()                   # sqlite objects stay in their thread
        try:
            while not self.stopping.is_set():
                try:
                    self.step(store)
                except StateError as exc:            # the database: say so, try again later
                    log.error("outbox %s: %s", self.connection, exc)
                    self.stopping.wait(self.settings.idle_poll)
        finally:
            store.close()

    def step(self, store: SqliteStore) -> None:
        now = self.clock()
        row = store.outbox_next(self.connection, now)
        if row is None:
            self.prune(store, now)
            due = store.outbox_due_at(self.connection)
            wait = self.settings.idle_poll if due is None else min(self.settings.idle_poll,
                                                                   max(0.0, due - now))
            self.wake.wait(max(wait, 0.01))
            self.wake.clear()
            return
        self.attempt(store, row)

    def attempt(self, store: SqliteStore, row: dict) -> None:
        timeout = self.settings.attempt_timeout
        try:
            report = Report.from_dict(json.loads(row["report"]))
        except (ValueError, TypeError, KeyError) as exc:
            store.outbox_refused(row["id"], self.clock(), f"unreadable report: {exc}")
            return
        try:
            if row["attempts"] and self.reporter.delivered(report, timeout):
                log.info("outbox %s: %s was delivered before; not sent again",
                         self.connection, row["key"])
                store.outbox_delivered(row["id"], self.clock())
                return
            store.outbox_attempt(row["id"])
            failpoint(OutboxFailpoint.SENDING)
            self.reporter.deliver(report, timeout)
            failpoint(OutboxFailpoint.DELIVERED)
            store.outbox_delivered(row["id"], self.clock())
        except ReportRefused as exc:
            log.warning("outbox %s: %s refused, not retried: %s", self.connection, row["key"], exc)
            store.outbox_refused(row["id"], self.clock(), str(exc))
        except Exception as exc:       # DriverError, or a reporter's bug: retry, never drop
            if not isinstance(exc, DriverError):
                log.exception("outbox %s: reporter failed", self.connection)
            delay = self.delay(row["attempts"] + 1)
            log.warning("outbox %s: %s not delivered, retry in %.1fs: %s", self.connection,
                        row["key"], delay, exc)
            store.outbox_retry(row["id"], self.clock() + delay, _line(exc))

    def delay(self, attempts: int) -> float:
        ceiling = min(self.settings.maximum, self.settings.initial * 2 ** min(attempts - 1, 30))
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def prune(self, store: SqliteStore, now: float) -> None:
        if now - self.pruned_at >= 3600:
            self.pruned_at = now
            store.outbox_prune(now - self.settings.keep)


def _line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
