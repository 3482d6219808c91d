"""Events fed to the scheduler: what happened outside the pure core.

Each event is a frozen record carrying the time it happened (`at`), so that
replaying the journal, or a simulator's virtual clock, gives the same state.
"""
from __future__ import annotations

from dataclasses import dataclass

from .types import Approvals, Change, JobResult, MergeFailure, NeededChange, ReviewState, SpecState


@dataclass(frozen=True)
class TriggerEvent:
    """A code-review event (the git driver's proposed, approved; Gerrit's
    comment-added...) for a change. `approvals` are the votes the event
    carries, `comment` what the reviewer wrote, `review` the change's state
    now (None: the connection has no review state, as the git driver), and
    `needed` every change it needs, transitively, each with its own needs."""
    at: float
    connection: str
    kind: str
    change: Change
    approvals: Approvals = ()
    comment: str | None = None
    review: ReviewState | None = None
    needed: tuple[NeededChange, ...] = ()


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


@dataclass(frozen=True)
class ChangeChecked:
    """The answer to CheckChange: the change's state now (`change`: its ref,
    for an item of several changes). `review` None with a `reason`: the
    check could not be made; None without one: nothing to check (git)."""
    at: float
    item: int
    generation: int
    review: ReviewState | None
    reason: str | None = None
    change: str = ""


@dataclass(frozen=True)
class WorkLost:
    """A scheduler that took over found work of these items missing on its
    host, made on another: their speculative commits (merged in that
    host's mirror) or the exports they had accepted (in its artifact
    store). Each is merged again, its builds run again, and so is what is
    built on it. An item landing keeps its state (its landing may have
    happened), unless it is named in `landing`: its branches were seen
    where its landing starts from, so it has not happened. Journals before
    exports were looked for call it MergesLost (core/codec.py)."""
    at: float
    items: tuple[int, ...]
    landing: tuple[int, ...] = ()


Event = (TriggerEvent | EnqueueRequested | DequeueRequested | PromoteRequested
         | MergeCompleted | BuildCompleted | LandCompleted | ChangeChecked | WorkLost)
