"""Actions the scheduler asks the adapters to carry out.

Adapters answer with events (MergeCompleted, BuildCompleted, LandCompleted,
ChangeChecked); Report and ReportStart are fire-and-forget and must be
idempotent, since replay repeats them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.model import MergeMode
from .types import Change, ItemResult, JobResult, SpecState


@dataclass(frozen=True)
class PrepareMerge:
    """Merge `change` onto `base` (the state of the item ahead), then each of
    `more` (a batch's other changes, with their projects' modes) in turn.

    Keys of `need` missing from `base` are read from the branch tips; an
    empty base means the item is at the head and builds on the tips.
    """
    item: int
    generation: int
    change: Change
    mode: MergeMode
    base: SpecState
    need: tuple[tuple[str, str], ...]
    more: tuple[tuple[Change, MergeMode], ...] = ()

    @property
    def steps(self) -> tuple[tuple[Change, MergeMode], ...]:
        """Every change to merge, with its mode, in order."""
        return ((self.change, self.mode), *self.more)


@dataclass(frozen=True)
class StartBuild:
    build: str
    item: int
    pipeline: str
    job: str
    change: Change
    state: SpecState
    chain: tuple[str, ...]          # project:change, head first, this item's changes last
    artifacts: tuple[tuple[str, str], ...] = ()   # (repository, export build) visible, head first
    more: tuple[Change, ...] = ()   # a batch's other changes, tested with `change`
    control: bool = False           # the job alone on the item's base, without its changes (blame.py)


@dataclass(frozen=True)
class CancelBuild:
    build: str


@dataclass(frozen=True)
class Move:
    """One branch to move by compare-and-swap: from `old`, only if it is still there, to `new`."""
    project: str
    branch: str
    old: str
    new: str


@dataclass(frozen=True)
class Land:
    """Move `project`'s `branch` from `old` to `new`, only if it is still `old`,
    and each branch of `also` the same way (an item whose changes are on
    several branches), and publish, once every branch moved, a snapshot of
    each repository in `publish`: (repository, the item's export builds).
    `state` is what the snapshots' manifests record as the commits they
    were built from; `more`, a batch's other changes, landed with `change`.
    """
    item: int
    generation: int
    project: str
    branch: str
    old: str
    new: str
    change: Change | None = None
    state: SpecState = ()
    publish: tuple[tuple[str, tuple[str, ...]], ...] = ()
    also: tuple[Move, ...] = ()
    more: tuple[Change, ...] = ()

    @property
    def moves(self) -> tuple[Move, ...]:
        return (Move(self.project, self.branch, self.old, self.new), *self.also)

    @property
    def changes(self) -> tuple[Change, ...]:
        return ((self.change,) if self.change else ()) + self.more


@dataclass(frozen=True)
class JobRecord:
    """What one job of a finished item came to; `build` is None when none was set up."""
    name: str
    result: JobResult
    build: str | None
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None        # the job's own run time, where known
    attempts: int = 1                    # runs made (Job.attempts): `retried` failed before `build`
    retried: tuple[str, ...] = ()
    excused: str | None = None           # it failed, and so did `control`, the job on the item's base
    control: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "result": self.result.value, "build": self.build,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "duration": self.duration, "attempts": self.attempts, "retried": list(self.retried),
                "excused": self.excused, "control": self.control}


@dataclass(frozen=True)
class ResultRecord:
    """A finished change, as the results store, the CLI and the simulator read it
    (`item` is the id it was enqueued with: one per change, in a batch too)."""
    item: int
    pipeline: str
    project: str
    change: str
    branch: str
    revision: str
    result: ItemResult
    commit: str | None
    reason: str | None
    jobs: tuple[JobRecord, ...]
    enqueued_at: float
    finished_at: float
    snapshot: dict[str, int] | None = None     # repository -> snapshot published
    batch: tuple[str, ...] = ()                # the other changes tested with it (project:ref)

    def as_dict(self) -> dict:
        """The JSON form (its keys and values are a stored format: keep them)."""
        return {"item": self.item, "pipeline": self.pipeline, "project": self.project,
                "change": self.change, "branch": self.branch, "revision": self.revision,
                "result": self.result.value, "commit": self.commit, "reason": self.reason,
                "jobs": [j.as_dict() for j in self.jobs], "enqueued_at": self.enqueued_at,
                "finished_at": self.finished_at, "snapshot": self.snapshot, "batch": list(self.batch)}


@dataclass(frozen=True)
class CheckChange:
    """Ask the review system for the change's state now, before its item
    lands in `pipeline` (one per change the pipeline's requirements cover);
    answered by ChangeChecked for this generation."""
    item: int
    generation: int
    change: Change
    pipeline: str


@dataclass(frozen=True)
class ReportStart:
    """The item was enqueued in a pipeline with `start:` reporters: say so
    on each of `changes` (idempotent: replay repeats it)."""
    item: int
    pipeline: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Report:
    """A finished item: written to the results store, keyed by item."""
    record: ResultRecord


Action = PrepareMerge | StartBuild | CancelBuild | Land | Report | CheckChange | ReportStart
