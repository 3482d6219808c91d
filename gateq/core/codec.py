"""Events to and from JSON, for the journal that replays the scheduler.

Journals outlive releases: `decode` also reads the forms older gateq wrote
(a MergeCompleted with `conflict: REASON` instead of `failure` and `reason`).
"""
from __future__ import annotations

import dataclasses
import enum
import json

from . import events as ev
from .types import Change, JobResult, MergeFailure

EVENT_TYPES = {cls.__name__: cls for cls in (
    ev.TriggerEvent, ev.EnqueueRequested, ev.DequeueRequested, ev.PromoteRequested,
    ev.MergeCompleted, ev.BuildCompleted, ev.LandCompleted)}


def _plain(value):
    if isinstance(value, Change):
        return {**dataclasses.asdict(value), "commits": sorted(value.commits)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def encode(event: ev.Event) -> str:
    body = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return json.dumps({"type": type(event).__name__, **body}, sort_keys=True)


def decode(text: str) -> ev.Event:
    body = json.loads(text)
    cls = EVENT_TYPES[body.pop("type")]
    if "change" in body:
        body["change"] = change_from(body["change"])
    if "result" in body:
        body["result"] = JobResult(body["result"])
    if cls is ev.MergeCompleted:
        _merge_failure(body)
    for key in ("state", "snapshots", "bases"):
        if key in body:
            body[key] = tuple(tuple(t) for t in body[key])
    return cls(**body)


def change_from(data: dict) -> Change:
    return Change(**{**data, "commits": frozenset(data["commits"])})


def _merge_failure(body: dict) -> None:
    """Before merge failures had kinds, every failed merge was a conflict."""
    old = body.pop("conflict", None)
    if old is not None and body.get("failure") is None:
        body["failure"], body["reason"] = MergeFailure.CONFLICT.value, old
    if body.get("failure") is not None:
        body["failure"] = MergeFailure(body["failure"])
