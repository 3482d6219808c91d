"""Events to and from JSON, for the journal that replays the scheduler.

Journals outlive releases: `decode` also reads the forms older gateq wrote
(a MergeCompleted with `conflict: REASON` instead of `failure` and `reason`;
a TriggerEvent and a Change without the review fields of issue 10; a
WorkLost under its first name, MergesLost, without `landing`). Those
fields are written only when they are set, so a git driver's journal reads
as it did before them.
"""
from __future__ import annotations

import dataclasses
import enum
import json

from . import events as ev
from .types import ChangeKey, Change, JobResult, MergeFailure, NeededChange, ReviewState

EVENT_TYPES = {cls.__name__: cls for cls in (
    ev.TriggerEvent, ev.EnqueueRequested, ev.DequeueRequested, ev.PromoteRequested,
    ev.MergeCompleted, ev.BuildCompleted, ev.LandCompleted, ev.ChangeChecked, ev.WorkLost)}
EVENT_TYPES["MergesLost"] = ev.WorkLost          # its name until exports were looked for too

# Fields added later (code review, issue 10; WorkLost's `landing`): left out
# while they hold their default, so older journals read as they were written.
LATER = {Change: ("number", "patchset", "url", "needs"),
         ev.TriggerEvent: ("approvals", "comment", "review", "needed"),
         ev.WorkLost: ("landing",)}


def _plain(value):
    if isinstance(value, Change):
        return change_plain(value)
    if isinstance(value, (ChangeKey, ReviewState, NeededChange)):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _fields(record) -> dict:
    later = LATER.get(type(record), ())
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)
            if not (f.name in later and getattr(record, f.name) == f.default)}


def change_plain(change: Change) -> dict:
    return {**_fields(change), "commits": sorted(change.commits)}


def encode(event: ev.Event) -> str:
    return json.dumps({"type": type(event).__name__, **_fields(event)}, sort_keys=True)


def decode(text: str) -> ev.Event:
    body = json.loads(text)
    cls = EVENT_TYPES[body.pop("type")]
    if "change" in body and isinstance(body["change"], dict):
        body["change"] = change_from(body["change"])
    if "result" in body:
        body["result"] = JobResult(body["result"])
    if cls is ev.MergeCompleted:
        _merge_failure(body)
    for key in ("state", "snapshots", "bases", "approvals"):
        if key in body:
            body[key] = tuple(tuple(t) for t in body[key])
    if cls is ev.WorkLost:
        body["items"] = tuple(body["items"])
        body["landing"] = tuple(body.get("landing", ()))
    if body.get("review") is not None:
        body["review"] = review_from(body["review"])
    if "needed" in body:
        body["needed"] = tuple(needed_from(n) for n in body["needed"])
    return cls(**body)


def change_from(data: dict) -> Change:
    values = {**data, "commits": frozenset(data["commits"])}
    if "needs" in values:
        values["needs"] = tuple(ChangeKey(**k) for k in values["needs"])
    return Change(**values)


def review_from(data: dict) -> ReviewState:
    return ReviewState(**{**data, "approvals": tuple(tuple(a) for a in data.get("approvals", ()))})


def needed_from(data: dict) -> NeededChange:
    return NeededChange(ChangeKey(**data["key"]), data["status"],
                        change_from(data["change"]) if data.get("change") else None,
                        review_from(data["review"]) if data.get("review") else None,
                        data.get("reason"))


def _merge_failure(body: dict) -> None:
    """Before merge failures had kinds, every failed merge was a conflict."""
    old = body.pop("conflict", None)
    if old is not None and body.get("failure") is None:
        body["failure"], body["reason"] = MergeFailure.CONFLICT.value, old
    if body.get("failure") is not None:
        body["failure"] = MergeFailure(body["failure"])
