"""Gerrit's records as the driver-neutral ones the engine reads: stream
events as ReviewEvents, query results as ChangeInfo or as reconciled
ReviewEvents. Pure: no I/O."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from .. import depends_on
from ..base import TriggerQuery
from ..records import (ChangeInfo, ChangeRef, ChangeState, Origin, RefMove, ReviewEvent,
                       ReviewEventKind, Vote)
from .events import EventKind, GerritEvent
from .query import ChangeRecord
from .shapes import Approval, ChangeStatus, PatchSetInfo
from .shapes import ChangeInfo as GerritChange

KINDS = {
    EventKind.PATCHSET_CREATED: ReviewEventKind.PROPOSED,
    EventKind.COMMENT_ADDED: ReviewEventKind.COMMENT,
    EventKind.CHANGE_MERGED: ReviewEventKind.MERGED,
    EventKind.CHANGE_ABANDONED: ReviewEventKind.ABANDONED,
    EventKind.CHANGE_RESTORED: ReviewEventKind.RESTORED,
    EventKind.REF_UPDATED: ReviewEventKind.REF_UPDATED,
    EventKind.WIP_STATE_CHANGED: ReviewEventKind.WIP_CHANGED,
}
# A trigger's `event:` names, as Zuul's gerrit triggers spell them.
EVENT_NAMES = {kind.value: review for kind, review in KINDS.items()}
STATES = {ChangeStatus.NEW: ChangeState.OPEN, ChangeStatus.MERGED: ChangeState.MERGED,
          ChangeStatus.ABANDONED: ChangeState.ABANDONED, ChangeStatus.UNKNOWN: ChangeState.UNKNOWN}
ZERO = "0" * 40


# Gerrit starts a comment-added's text with a line of its own ("Patch Set 3:
# Code-Review+2", maybe "(1 comment)" below it): not what the reviewer wrote.
GERRIT_PREAMBLE = re.compile(r"\APatch Set \d+:[^\n]*(?:\n\s*\(\d+ (?:inline )?comments?\))?\s*")


def user_comment(text: str | None) -> str | None:
    r"""A comment-added's text without the lines Gerrit adds, so that a
    trigger's `comment: (?i)^\s*recheck\s*$` matches a "recheck" comment."""
    return None if text is None else GERRIT_PREAMBLE.sub("", text, count=1)


def votes(approvals: Sequence[Approval]) -> tuple[Vote, ...]:
    return tuple(Vote(a.label, a.value, a.old_value, a.by.username if a.by else None)
                 for a in approvals)


def change_ref(change: GerritChange | None, patchset: PatchSetInfo | None) -> ChangeRef | None:
    if change is None:
        return None
    if patchset is None:
        return ChangeRef(None, None, change.number, None, change.url)
    return ChangeRef(patchset.ref, patchset.revision, change.number, patchset.number, change.url)


def review_event(connection: str, event: GerritEvent) -> ReviewEvent | None:
    """The event as gateq reads it; None when it names no project."""
    project = event.project
    if project is None:
        return None
    actor = event.actor.username if event.actor else None
    common = dict(connection=connection, kind=KINDS[event.kind], project=project, actor=actor,
                  created_at=float(event.created_on) if event.created_on else None,
                  origin=Origin.STREAM)
    if event.kind is EventKind.REF_UPDATED:
        update = event.ref_update
        if update is None or update.ref is None:
            return None
        ref = update.ref if update.ref.startswith("refs/") else "refs/heads/" + update.ref
        move = RefMove(ref, _rev(update.old_rev), _rev(update.new_rev))
        return ReviewEvent(branch=move.branch, ref_move=move, **common)
    change = event.change
    return ReviewEvent(branch=change.branch if change else None,
                       change=change_ref(change, event.patchset), approvals=votes(event.approvals),
                       comment=event.comment, state=STATES[change.status] if change else
                       ChangeState.UNKNOWN, wip=change.wip if change else None, **common)


def _rev(value: str | None) -> str | None:
    return None if not value or value == ZERO else value


def record_ref(record: ChangeRecord) -> ChangeRef:
    return ChangeRef(record.ref, record.revision, record.number, record.patchset, record.url)


def change_info(connection: str, record: ChangeRecord, web_urls: Mapping[str, str],
                open_numbers: set[int]) -> ChangeInfo:
    """`open_numbers`: which of the changes it is based on are still open."""
    parents = tuple(ChangeRef(d.ref, d.revision, d.number, _patchset_of(d.ref))
                    for d in record.depends_on if d.number in open_numbers)
    stale = tuple(d.number for d in record.depends_on
                  if d.number in open_numbers and not d.is_current_patchset)
    message = record.commit_message or ""
    return ChangeInfo(connection, record.project or "", record.branch or "", record_ref(record),
                      STATES[record.status], record.wip, votes(record.approvals),
                      record.commit_message, record.change_id, record.subject,
                      depends_on.parse(message, web_urls), parents, stale, record.submittable)


def _patchset_of(ref: str | None) -> int | None:
    last = ref.rsplit("/", 1)[-1] if ref else ""
    return int(last) if last.isdigit() else None


def reconciled(connection: str, record: ChangeRecord, query: TriggerQuery) -> ReviewEvent:
    """A change found by reconciliation, as the trigger's event it stands for."""
    return ReviewEvent(connection, query.kind, record.project or "", record.branch,
                       record_ref(record), votes(record.approvals), state=STATES[record.status],
                       wip=record.wip, origin=Origin.RECONCILED, pipeline=query.pipeline)
