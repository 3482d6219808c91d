"""The core's records for code review, as the engine builds them.

The core gains them with issue 10 (ChangeKey, ReviewState, NeededChange,
and new defaulted fields of Change and TriggerEvent); until a core has
them, the engine builds what that core has, leaving the rest out, so one
engine runs on either. Only this module looks.
"""
from __future__ import annotations

from dataclasses import fields

from ..core import actions as act
from ..core import events as ev
from ..core import types

ChangeKey = getattr(types, "ChangeKey", None)
ReviewState = getattr(types, "ReviewState", None)
NeededChange = getattr(types, "NeededChange", None)
ChangeChecked = getattr(ev, "ChangeChecked", None)
CheckChange = getattr(act, "CheckChange", None)
ReportStart = getattr(act, "ReportStart", None)
NOT_ENQUEUED = getattr(types.ItemResult, "NOT_ENQUEUED", None)


def _known(cls) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


_CHANGE, _TRIGGER = _known(types.Change), _known(ev.TriggerEvent)


def change(**values) -> types.Change:
    """A core Change with the values this core's Change has."""
    return types.Change(**{k: v for k, v in values.items() if k in _CHANGE})


def trigger_event(**values) -> ev.TriggerEvent:
    return ev.TriggerEvent(**{k: v for k, v in values.items() if k in _TRIGGER})


def key(connection: str, project: str, id: str):
    """A ChangeKey, or the tuple that stands for one in an older core."""
    return ChangeKey(connection, project, id) if ChangeKey else (connection, project, id)
