"""The scheduler's state: pipelines hold change queues, queues hold items.

Plain mutable dataclasses owned by the scheduler; only the scheduler changes
them, and only the store knows how they are persisted (checkpoint.py says
what a checkpoint holds; the journal of events replays the rest).
"""
from __future__ import annotations

import bisect
import enum
import operator
from dataclasses import dataclass, field
from typing import Iterator

from .types import BuildState, Change, CheckAnswer, JobResult, SpecState


class Stage(enum.Enum):
    """Where an item is in its life; whether it is failing is told apart
    (`Item.failing`), since a failing item still moves through these."""
    QUEUED = "queued"        # nothing asked yet: its base is not merged
    MERGING = "merging"      # PrepareMerge sent, no answer yet
    MERGED = "merged"        # speculative state known, jobs not set up (outside the window)
    TESTING = "testing"      # the builds of this generation are set up
    CONFLICT = "conflict"    # its merge onto its base conflicted: failing, runs nothing
    LANDING = "landing"      # succeeded at the head; Land sent
    REMOVED = "removed"      # out of its queue and reported

    # Members are singletons: hashing by identity is exact, and much cheaper
    # than Enum's hash of the name on a path taken for every item evaluated.
    __hash__ = object.__hash__


# Every move an item may make; a reset (a new base) goes back to QUEUED.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.QUEUED: frozenset({Stage.MERGING, Stage.REMOVED}),
    Stage.MERGING: frozenset({Stage.MERGED, Stage.CONFLICT, Stage.QUEUED, Stage.REMOVED}),
    Stage.MERGED: frozenset({Stage.TESTING, Stage.QUEUED, Stage.REMOVED}),
    Stage.TESTING: frozenset({Stage.LANDING, Stage.QUEUED, Stage.REMOVED}),
    Stage.CONFLICT: frozenset({Stage.QUEUED, Stage.REMOVED}),
    Stage.LANDING: frozenset({Stage.TESTING, Stage.QUEUED, Stage.REMOVED}),  # TESTING: resumed
    Stage.REMOVED: frozenset(),
}

MERGED_STAGES = frozenset({Stage.MERGED, Stage.TESTING, Stage.LANDING})
SET_UP_STAGES = frozenset({Stage.TESTING, Stage.LANDING})


@dataclass(eq=False)
class Build:
    """One job of one item, for one generation of that item.

    A failed run with attempts left (Job.attempts) waits again under a new
    id, `attempt` one higher; `retried` keeps the ids of the runs before."""
    id: str
    job: str
    state: BuildState = BuildState.WAITING
    result: JobResult | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration: float | None = None    # the job's own, as its executor measured it
    attempt: int = 1
    retried: tuple[str, ...] = ()
    review: bool = False             # it failed; the job's result on the item's base decides (blame.py)
    excused: str | None = None       # it failed, and fails on the base too: not held against the item

    @property
    def node_failures(self) -> int:
        """Runs lost to their node: the runs before this one that were not attempts."""
        return len(self.retried) - (self.attempt - 1)

    def retry(self, counted: bool = True) -> None:
        """Wait to run again on the same state, under the id of the next run;
        a counted retry is the next attempt (a node failure's re-run is not)."""
        self.retried += (self.id,)
        self.attempt += counted
        self.id = f"{self.retried[0]}~{len(self.retried) + 1}"
        self.state, self.result = BuildState.WAITING, None
        self.started_at = self.finished_at = self.duration = None


@dataclass(frozen=True)
class Member:
    """One change of an item, with the id and time it was enqueued with
    (its result keeps them) and the ids of the changes it needs."""
    id: int
    change: Change
    enqueued_at: float
    depends_on: tuple[int, ...] = ()


@dataclass(eq=False)
class Item:
    """One or more changes in a queue, tested, landed and reported together.

    An item holds one change, or, as a batch, several (`members`, in queue
    order): they are merged in turn, one build per job covers them all,
    they land together and each gets its own result, under the id it was
    enqueued with. An item's `id` is that of the change it was made for
    (a split half's: its first change's) and stays when changes leave it.

    Invariants: `base` is the item this one's speculative state was built
    on (None: the branch tips), with that item's generation at the time in
    `base_generation`; `generation` grows on every reset, and build ids
    carry it, so answers for an older generation are recognised as stale.
    `order` grows from the head of its queue to the tail (see ChangeQueue).
    `base_commit` is what the branch of its first change was at below its
    changes; `bases`, the same for every other branch they change.
    """
    id: int
    pipeline: str
    queue: str
    members: tuple[Member, ...]
    jobs: tuple[str, ...]
    generation: int = 0
    base: int | None = None
    base_generation: int | None = None
    stage: Stage = Stage.QUEUED
    spec: SpecState = ()             # its speculative state, once merged
    base_commit: str | None = None
    builds: dict[str, Build] = field(default_factory=dict)
    failing: str | None = None       # why it cannot land in this generation
    order: int = 0
    bases: SpecState = ()
    sealed: bool = False             # no change joins it: it started a build, or came from a split
    controls: dict[str, Build] = field(default_factory=dict)   # a job run on its base (blame.py)
    checks: dict[str, CheckAnswer] = field(default_factory=dict)  # before landing: change name -> answer

    def build_id(self, job: str) -> str:
        return f"{self.id}-{self.generation}-{job}"

    @property
    def change(self) -> Change:
        """Its first change: the one named in logs, workspaces and the status."""
        return self.members[0].change

    @property
    def enqueued_at(self) -> float:
        return self.members[0].enqueued_at

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(m.change for m in self.members)

    def needs(self) -> tuple[int, ...]:
        """The ids of the changes outside the item that its changes need."""
        if len(self.members) == 1:
            return self.members[0].depends_on
        own = {m.id for m in self.members}
        return tuple(dict.fromkeys(d for m in self.members for d in m.depends_on if d not in own))

    def move(self, stage: Stage) -> None:
        if stage not in TRANSITIONS[self.stage]:
            raise AssertionError(f"item {self.id}: no move from {self.stage.value} to {stage.value}")
        self.stage = stage

    @property
    def merged(self) -> bool:
        return self.stage in MERGED_STAGES

    @property
    def set_up(self) -> bool:
        return self.stage in SET_UP_STAGES


_order = operator.attrgetter("order")


@dataclass(eq=False)
class ChangeQueue:
    """Items in queue order. Orders grow along the list, so an item's
    position is a binary search, and removing one never renumbers."""
    name: str
    window: int
    items: list[Item] = field(default_factory=list)

    def position(self, item: Item) -> int:
        return bisect.bisect_left(self.items, item.order, key=_order)

    def append(self, item: Item) -> None:
        item.order = self.items[-1].order + 1 if self.items else 0
        self.items.append(item)

    def discard(self, item: Item) -> int:
        """Take the item out; its former position."""
        position = self.position(item)
        del self.items[position]
        return position

    def reorder(self, items: list[Item]) -> None:
        self.items = items
        for order, item in enumerate(items):
            item.order = order

    def at(self, position: int) -> Item | None:
        return self.items[position] if 0 <= position < len(self.items) else None


@dataclass
class PipelineState:
    name: str
    queues: dict[str, ChangeQueue] = field(default_factory=dict)


@dataclass
class State:
    """Invariants: `index` holds exactly the items present in some queue,
    by item id; `holders` maps the id of every change they hold to its item."""
    pipelines: dict[str, PipelineState] = field(default_factory=dict)
    index: dict[int, Item] = field(default_factory=dict)
    holders: dict[int, Item] = field(default_factory=dict)
    next_item: int = 1
    builds: dict[str, int] = field(default_factory=dict)   # running build -> item
    now: float = 0.0

    def items(self) -> Iterator[Item]:
        """Every item of every queue, once."""
        for pipeline in self.pipelines.values():
            for queue in pipeline.queues.values():
                yield from queue.items

    def queue_of(self, item: Item) -> ChangeQueue:
        return self.pipelines[item.pipeline].queues[item.queue]
