"""Events fed to the scheduler: what happened outside the pure core.

Each event is a frozen record carrying the time it happened (`at`), so that
replaying the journal, or a simulator's virtual clock, gives the same state.
"""
from __future__ import annotations

from dataclasses import dataclass

from .types import Change, JobResult, MergeFailure, SpecState


@dataclass(frozen=True)
class TriggerEvent:
    """A code-review event (proposed, approved) for a change."""
    at: float
    connection: str
    kind: str
    change: Change


@dataclass(frozen=True)
class EnqueueRequested:
    at: float
    pipeline: str
    change: Change


@dataclass(frozen=True)
class DequeueRequested:
    at: float
    pipeline: str
    project: str
    ref: str


@dataclass(frozen=True)
class PromoteRequested:
    at: float
    pipeline: str
    project: str
    ref: str


@dataclass(frozen=True)
class MergeCompleted:
    """The merger built an item's speculative state, or says why it could not.

    `state` is the full speculative state (every project-branch of the
    queue); `base_commit` is the tip of the item's own branch it merged onto;
    `bases`, for an item with changes on other branches too, what each of
    those was at below them. A failed merge has `failure` set and `reason`
    in one line.
    """
    at: float
    item: int
    generation: int
    state: SpecState = ()
    base_commit: str | None = None
    failure: MergeFailure | None = None
    reason: str | None = None
    bases: SpecState = ()


@dataclass(frozen=True)
class BuildCompleted:
    at: float
    build: str
    result: JobResult
    detail: str | None = None      # why it failed, when the adapter knows better than the log
    duration: float | None = None  # seconds the job itself ran, measured where it ran


@dataclass(frozen=True)
class LandCompleted:
    """The target branch was moved (ok) or the compare-and-swap lost."""
    at: float
    item: int
    generation: int
    ok: bool
    commit: str | None = None
    reason: str | None = None
    snapshots: tuple[tuple[str, int], ...] = ()   # (repository, snapshot published)


Event = (TriggerEvent | EnqueueRequested | DequeueRequested | PromoteRequested
         | MergeCompleted | BuildCompleted | LandCompleted)
