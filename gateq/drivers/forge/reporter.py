"""The forge reporter: a commit status on the change's head (context
gateq/PIPELINE: pending when the item starts, success or failure when it
completes), and a summary comment on the pull request for a completed
item.

A Report carries what to say as labels, as the forge schema's `reporter`
wrote them (`status`: -1 failure, 0 pending, 1 success; `comment`: 1); a
report without labels (a change dequeued, not enqueued: no verdict) is a
comment. Every comment ends with `gateq-report: ID`, so a report whose
earlier attempt may have arrived is found before it is sent again; a
status is the same whether it is set once or twice.
"""
from __future__ import annotations

import re
from typing import Callable

from ..base import DriverError, ReportRefused, Reporter, Unreachable
from ..records import Report
from .dialect import Dialect, StatusState
from .rest import RestClient

MARKER = "gateq-report: "
STATUS, COMMENT = "status", "comment"
STATES = {-1: StatusState.FAILURE, 0: StatusState.PENDING, 1: StatusState.SUCCESS}
LOG_URL = re.compile(r"log: (https?://\S+)")


def message_of(report: Report) -> str:
    return f"{report.message.rstrip()}\n\n{MARKER}{report.id}"


def status_of(report: Report) -> str | None:
    value = dict(report.labels).get(STATUS)
    return STATES.get(value) if value is not None else None


def comments(report: Report) -> bool:
    labels = dict(report.labels)
    return bool(labels.get(COMMENT)) or (not labels and bool(report.message.strip()))


class ForgeReporter(Reporter):
    def __init__(self, client: RestClient, dialect: Dialect,
                 status_url: Callable[[Report], "str | None"]) -> None:
        self.client = client
        self.dialect = dialect
        self.status_url = status_url

    def target_url(self, report: Report) -> str | None:
        """The first build's page the message links to, else the configured status-url."""
        found = LOG_URL.search(report.message)
        return found.group(1) if found else self.status_url(report)

    def deliver(self, report: Report, timeout: float) -> None:
        change = report.change
        state = status_of(report)
        if state is not None:
            if not change.revision:
                raise ReportRefused(f"a status needs the change's commit, not {change.target}")
            description = (report.message.strip().splitlines() or [state])[0]
            self.send(self.dialect.status_call(report.project, change.revision, state,
                                               f"gateq/{report.pipeline}", description,
                                               self.target_url(report)), timeout)
        if comments(report):
            number = self.number(report)
            if number is None:
                raise ReportRefused(f"a comment needs the pull request's number, not "
                                    f"{change.target}")
            self.send(self.dialect.comment_call(report.project, number, message_of(report)),
                      timeout)

    def number(self, report: Report) -> int | None:
        """The change's number, else the one its head ref names (refs/pull/N/head)."""
        return report.change.number or self.dialect.number_of(report.change.ref)

    def send(self, call, timeout: float) -> None:
        try:
            self.client.call(call.method, call.path, call.body, timeout=timeout)
        except Unreachable:
            raise                       # retried by the outbox
        except DriverError as exc:      # the forge said no (404, 401, 422...)
            raise ReportRefused(str(exc)) from None

    def delivered(self, report: Report, timeout: float) -> bool:
        number = self.number(report)
        if not comments(report) or number is None:
            return False                # a status is set again harmlessly
        wanted = MARKER + report.id
        path = self.dialect.comments_path(report.project, number)
        return any(wanted in self.dialect.comment_text(c).splitlines()
                   for c in self.client.pages(path) if isinstance(c, dict))
