"""Reconciliation: what stream-events may have dropped, asked of Gerrit.

One `gerrit query` per project and trigger (triggers asking the same of a
project share it), never one per change: open changes whose current patch
set carries the trigger's votes, then the branch filtered here (Gerrit's
branch: operator takes no regular expression). The engine skips what is
already queued or reported on that patch set; it gets the number, patch
set and revision to decide.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..base import TriggerQuery
from ..records import ReviewEvent
from .query import ChangeRecord, open_changes, query_changes
from .ssh import GerritSSH
from .translate import reconciled


@dataclass(frozen=True)
class Found:
    events: tuple[ReviewEvent, ...]
    records: tuple[ChangeRecord, ...]      # each change once, for fetching
    queries: int
    seconds: float


def query_text(project: str, query: TriggerQuery) -> str:
    text = open_changes([project], labels=dict(query.approvals))
    if query.wip is not None:
        text += " is:wip" if query.wip else " -is:wip"
    return text


def plan(queries: Sequence[TriggerQuery], projects: Iterable[str] | None = None
         ) -> dict[str, list[TriggerQuery]]:
    """Query text -> the triggers it answers; `projects` limits the projects asked about."""
    allowed = set(projects) if projects is not None else None
    planned: dict[str, list[TriggerQuery]] = {}
    for query in queries:
        if not query.findable:
            continue
        for project in query.projects:
            if allowed is None or project in allowed:
                planned.setdefault(query_text(project, query), []).append(query)
    return planned


def find(ssh: GerritSSH, connection: str, queries: Sequence[TriggerQuery],
         projects: Iterable[str] | None = None, timeout: float | None = None) -> Found:
    began = time.monotonic()
    events: list[ReviewEvent] = []
    records: dict[int, ChangeRecord] = {}
    planned = plan(queries, projects)
    for text, triggers in planned.items():
        for record in query_changes(ssh, text, timeout=timeout):
            records.setdefault(record.number, record)
            events += [reconciled(connection, record, trigger) for trigger in triggers
                       if trigger.wants_branch(record.branch)]
    return Found(tuple(events), tuple(records.values()), len(planned), time.monotonic() - began)
