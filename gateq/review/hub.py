"""The engine's side of the review systems, in one place the loop talks to:
the connections (started, stopped, their state), what they hear into the
journal (intake.py), the requirement checks before a landing, and the
reports that go back through the outbox.

Everything that may block (a query, a fetch, a report) runs on lanes or
the outbox's workers; what the loop calls here returns at once. The
loop's decisions stay the core's: the hub only skips a reconciled change
the pipeline already has or already reported on that patch set (the
connection's reconciliation finds it again every interval).
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from ..config.model import Config
from ..core.actions import CheckChange, ReportStart
from ..core.events import ChangeChecked, Event
from ..core.types import Change
from ..drivers.base import DriverError
from ..drivers.records import ChangeRef, Origin
from ..outbox import Outbox, OutboxSettings
from ..outbox import enqueue as enqueue_reports
from ..outbox import rows as outbox_rows
from ..state import DiskFull, SqliteStore
from ..workers import Answer, Inbox, Lane
from .connections import Connections
from .events import Built, EventBuilder
from .intake import Intake
from .needs import Resolver, review_state
from .reports import Reports

log = logging.getLogger("gateq.engine")

Seen = tuple[str, str, str, str]          # pipeline, project, change ref, revision


class ReviewHub:
    def __init__(self, config: Config, store: SqliteStore, connections: Connections,
                 inbox: Inbox, record: Callable[[Event], None],
                 queued: Callable[[str, Change], bool], on_full: Callable[[str], None],
                 log_location: Callable[[str], str], clock: Callable[[], float] = time.time):
        self.config, self.store, self.connections = config, store, connections
        self.record, self.queued, self.on_full, self.clock = record, queued, on_full, clock
        self.intake = Intake(connections, EventBuilder(Resolver(connections), clock), inbox,
                             self, clock, store.for_thread)
        self.checks = {name: Lane(f"check {name}", inbox) for name in connections.by_name}
        reporters = connections.reporters()
        self.outbox = Outbox(store.for_thread, reporters, per_connection={
            name: OutboxSettings(attempt_timeout=connections[name].report_timeout,
                                 initial=connections[name].report_retry)
            for name in reporters})
        self.reports = Reports(config, frozenset(reporters), config_change_url(config),
                               log_location)
        self.reported: set[Seen] = set()

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Once the journal is replayed: the outbox sends, the connections listen."""
        self.reported = {seen(r) for r in self.store.results()}
        self.outbox.start()
        self.connections.start(self.intake.deliver_for)

    def stop(self) -> None:
        self.connections.stop()
        self.intake.stop(2.0)
        for lane in self.checks.values():
            lane.stop(2.0)
        self.outbox.stop()

    def poll(self) -> None:
        self.intake.poll(self.store)

    def busy(self) -> bool:
        return self.intake.busy() or any(lane.busy for lane in self.checks.values()) \
            or bool(self.store.intake_pending(after=self.intake.taken, limit=1))

    def status(self) -> dict:
        return {"connections": self.connections.status(), "outbox": Outbox.stats(self.store),
                "intake": self.store.intake_counts()}

    # -- what the connections heard (intake.Sink) ----------------------------

    def journal_review(self, row: int, built: Built) -> None:
        skip = built.origin is Origin.RECONCILED and self.known(built)
        try:
            seq = self.store.intake_journal(row, None if skip else built.event, self.clock(),
                                            "already queued or reported on this patch set"
                                            if skip else None)
        except DiskFull as exc:
            self.intake.again(row)
            self.on_full(str(exc))
            return
        if seq is not None:
            change = built.event.change
            log.info("%s %s event for %s:%s (%s) recorded (journal row %d)", built.origin.value,
                     built.event.kind, change.project, change.ref, change.revision[:12], seq)

    def drop_review(self, row: int, reason: str) -> None:
        self.intake.retries.pop(row, None)
        try:
            self.store.intake_journal(row, None, self.clock(), reason)
        except DiskFull as exc:
            self.intake.again(row)
            self.on_full(str(exc))
            return
        log.debug("review event %d: nothing for the gate: %s", row, reason)

    def known(self, built: Built) -> bool:
        """A reconciled change its pipeline holds, or reported on that patch set."""
        change = built.event.change
        return built.pipeline is not None and (
            self.queued(built.pipeline, change)
            or (built.pipeline, change.project, change.ref, change.revision) in self.reported)

    # -- checks before a landing ------------------------------------------------

    def check(self, action: CheckChange) -> None:
        """CheckChange: the change's state now, asked off the loop; the
        answer (ChangeChecked) is journaled by the loop."""
        project = self.config.layout.projects.get(action.change.project)
        connection = self.connections[project.connection] if project else None
        if connection is None:
            self.record(ChangeChecked(self.clock(), action.item, action.generation, None,
                                      f"project {action.change.project} is in no layout",
                                      action.change.name))
            return
        self.checks[connection.name].submit(lambda: self.checked(connection, action))

    def checked(self, connection, action: CheckChange) -> Answer:
        change = action.change
        ref = ChangeRef(change.ref, change.revision, change.number, change.patchset)
        try:
            info = connection.change_info(change.project, ref, change.branch)
            review, reason = review_state(connection, info, change.patchset), None
        except DriverError as exc:
            review, reason = None, str(exc)
        event = ChangeChecked(self.clock(), action.item, action.generation, review, reason,
                              change.name)
        return lambda: self.record(event)

    # -- reports ----------------------------------------------------------------

    def report_result(self, record: dict) -> bool:
        """Store the result and queue its reports, in one transaction; True
        if it was new (raises DiskFull: the loop puts the Report off)."""
        reports = self.reports.for_result(record)
        added = self.store.add_result_with_reports(record, outbox_rows(reports), self.clock())
        self.reported.add(seen(record))
        if added and reports:
            self.outbox.wake()
        return added

    def report_start(self, action: ReportStart) -> None:
        reports = self.reports.for_start(action.item, action.pipeline, action.changes)
        if reports and enqueue_reports(self.store, reports, self.clock()):
            self.outbox.wake()


def seen(record: dict) -> Seen:
    """What a result reported on; a result recorded by an older gateq may
    lack fields (it then matches no reconciled change)."""
    return (record.get("pipeline", ""), record.get("project", ""), record.get("change", ""),
            record.get("revision", ""))


def config_change_url(config: Config) -> Callable[[str, str], "str | None"]:
    """(project, change) -> its page, where its connection has pages."""
    def change_url(project: str, change: str) -> str | None:
        spec = config.layout.projects.get(project)
        connection = config.connections.get(spec.connection) if spec else None
        return connection.change_url(project, change) if connection else None
    return change_url


def build_page(config: Config, build: str) -> str | None:
    """A build's page, where `serve` runs the web on a known port."""
    listen = config.web.listen
    if not (listen and listen[1]):
        return None
    host = f"[{listen[0]}]" if ":" in listen[0] else listen[0]
    return f"http://{host}:{listen[1]}/builds/{build}"
