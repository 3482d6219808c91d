"""Events to and from JSON, for the journal that replays the scheduler."""
from __future__ import annotations

import dataclasses
import json

from . import events as ev
from .types import Change, JobResult

EVENT_TYPES = {cls.__name__: cls for cls in (
    ev.TriggerEvent, ev.EnqueueRequested, ev.DequeueRequested, ev.PromoteRequested,
    ev.MergeCompleted, ev.BuildCompleted, ev.LandCompleted)}


def _plain(value):
    if isinstance(value, Change):
        return {**dataclasses.asdict(value), "commits": sorted(value.commits)}
    if isinstance(value, JobResult):
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
        body["change"] = Change(**{**body["change"], "commits": frozenset(body["change"]["commits"])})
    if "result" in body:
        body["result"] = JobResult(body["result"])
    for key in ("state", "snapshots"):
        if key in body:
            body[key] = tuple(tuple(t) for t in body[key])
    return cls(**body)
