"""Stream events: one JSON line from `gerrit stream-events` in, one frozen
GerritEvent out (or None for the event types gateq does not use), or an
EventParseError whose message is one line.

The person behind an event has a different key per type (uploader,
author, submitter, abandoner, restorer, changer); it is `actor` here.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from voluptuous import Invalid, MultipleInvalid, Optional

from .shapes import (Account, Approval, ChangeInfo, PatchSetInfo, RefUpdate, account, approvals,
                     change, integer, maybe, patchset, ref_update, schema, text)


class EventKind(enum.Enum):
    PATCHSET_CREATED = "patchset-created"
    COMMENT_ADDED = "comment-added"
    CHANGE_MERGED = "change-merged"
    CHANGE_ABANDONED = "change-abandoned"
    CHANGE_RESTORED = "change-restored"
    REF_UPDATED = "ref-updated"
    WIP_STATE_CHANGED = "wip-state-changed"


ACTOR_KEY = {EventKind.PATCHSET_CREATED: "uploader", EventKind.COMMENT_ADDED: "author",
             EventKind.CHANGE_MERGED: "submitter", EventKind.CHANGE_ABANDONED: "abandoner",
             EventKind.CHANGE_RESTORED: "restorer", EventKind.REF_UPDATED: "submitter",
             EventKind.WIP_STATE_CHANGED: "changer"}


@dataclass(frozen=True)
class GerritEvent:
    kind: EventKind
    created_on: int | None = None          # eventCreatedOn, seconds since the epoch
    change: ChangeInfo | None = None
    patchset: PatchSetInfo | None = None
    actor: Account | None = None
    approvals: tuple[Approval, ...] = ()   # comment-added: the author's votes
    comment: str | None = None             # comment-added
    reason: str | None = None              # change-abandoned, change-restored
    new_rev: str | None = None             # change-merged: the branch tip it made
    ref_update: RefUpdate | None = None    # ref-updated

    @property
    def project(self) -> str | None:
        if self.change is not None and self.change.project:
            return self.change.project
        return self.ref_update.project if self.ref_update else None

    def approval(self, label: str) -> Approval | None:
        return next((a for a in self.approvals if a.label == label), None)


class EventParseError(ValueError):
    """A stream-events line gateq cannot read; the message is one line."""


EVENT = schema({
    "type": text,
    Optional("eventCreatedOn", default=None): maybe(integer),
    Optional("change", default=None): maybe(change),
    Optional("patchSet", default=None): maybe(patchset),
    Optional("approvals", default=[]): approvals,
    Optional("comment", default=None): maybe(text),
    Optional("reason", default=None): maybe(text),
    Optional("newRev", default=None): maybe(text),
    Optional("refUpdate", default=None): maybe(ref_update),
    **{Optional(key, default=None): maybe(account) for key in set(ACTOR_KEY.values())},
})


def parse_event(line: str | bytes) -> GerritEvent | None:
    """The event on `line`; None for a type gateq ignores."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventParseError(f"not JSON ({_reason(exc)}): {_start(line)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise EventParseError(f"not an event (no \"type\"): {_start(line)}")
    try:
        kind = EventKind(data["type"])
    except ValueError:
        return None
    try:
        found = EVENT(data)
    except MultipleInvalid as exc:
        raise EventParseError(f"{kind.value}: {_where(exc.errors[0])}: {_start(line)}") from None
    return GerritEvent(kind, found["eventCreatedOn"], found["change"], found["patchSet"],
                       found[ACTOR_KEY[kind]], tuple(found["approvals"]), found["comment"],
                       found["reason"], found["newRev"], found["refUpdate"])


def _where(error: Invalid) -> str:
    path = ".".join(str(step) for step in error.path)
    return f"{path}: {error.msg}" if path else error.msg


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__


def _start(line: str | bytes, limit: int = 60) -> str:
    shown = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    shown = shown.strip().replace("\n", "\\n")
    return shown if len(shown) <= limit else shown[:limit] + "..."
