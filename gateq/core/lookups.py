"""Questions the adapters ask of the scheduler's state (pure, read-only)."""
from __future__ import annotations

from ..config.model import Layout
from .state import State
from .types import Change


def holds_change(state: State, pipeline: str, change: Change) -> bool:
    """Whether the pipeline holds that very change (project, ref, revision)."""
    key = (change.project, change.ref, change.revision)
    return any(item.pipeline == pipeline
               and any((m.change.project, m.change.ref, m.change.revision) == key
                       for m in item.members)
               for item in state.index.values())


def success_votes(layout: Layout, state: State, item: int,
                  connection: str) -> tuple[tuple[str, int], ...]:
    """The votes the item's pipeline gives on `connection` on success
    (Gerrit's submit needs them to make the change submittable)."""
    found = state.index.get(item)
    pipeline = layout.pipelines.get(found.pipeline) if found else None
    return tuple(v for r in (pipeline.success if pipeline else ()) if r.connection == connection
                 for v in r.labels)
