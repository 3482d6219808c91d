"""The scheduler's state: pipelines hold change queues, queues hold items.

Plain mutable dataclasses owned by the scheduler; only the scheduler changes
them, and only the store knows how they are persisted (as a journal of
events replayed through the scheduler).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .types import BuildState, Change, JobResult, SpecState


class MergeState(enum.Enum):
    PENDING = "pending"      # not asked yet (its base is not merged)
    REQUESTED = "requested"  # PrepareMerge sent, no answer yet
    MERGED = "merged"
    CONFLICT = "conflict"


@dataclass
class Build:
    """One job of one item, for one generation of that item."""
    id: str
    job: str
    state: BuildState = BuildState.WAITING
    result: JobResult | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class Item:
    """A change in a queue.

    Invariants: `base` is the item this one's speculative state was built
    on (None: the branch tips), with that item's generation at the time in
    `base_generation`; `generation` grows on every reset, and build ids
    carry it, so answers for an older generation are recognised as stale.
    """
    id: int
    pipeline: str
    queue: str
    change: Change
    enqueued_at: float
    jobs: tuple[str, ...]
    depends_on: tuple[int, ...] = ()
    generation: int = 0
    base: int | None = None
    base_generation: int | None = None
    merge: MergeState = MergeState.PENDING
    state: SpecState = ()
    base_commit: str | None = None
    conflict: str | None = None
    builds: dict[str, Build] = field(default_factory=dict)
    failing: str | None = None       # why it fails, once a voting job failed
    landing: bool = False
    started: bool = False            # jobs have been set up for this generation
    removed: bool = False

    def build_id(self, job: str) -> str:
        return f"{self.id}-{self.generation}-{job}"


@dataclass
class ChangeQueue:
    name: str
    window: int
    items: list[Item] = field(default_factory=list)


@dataclass
class PipelineState:
    name: str
    queues: dict[str, ChangeQueue] = field(default_factory=dict)


@dataclass
class State:
    """Invariant: `index` holds exactly the items present in some queue."""
    pipelines: dict[str, PipelineState] = field(default_factory=dict)
    index: dict[int, Item] = field(default_factory=dict)
    next_item: int = 1
    builds: dict[str, int] = field(default_factory=dict)   # running build -> item
    now: float = 0.0

    def items(self):
        for pipeline in self.pipelines.values():
            for queue in pipeline.queues.values():
                yield from queue.items

    def queue_of(self, item: Item) -> ChangeQueue:
        return self.pipelines[item.pipeline].queues[item.queue]
