"""Small value types shared by events, actions and queue state."""
from __future__ import annotations

import enum
from dataclasses import dataclass

# A speculative state: sorted (project, branch, commit) triples.
SpecState = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Change:
    """A ref proposed for a branch, pinned to the revision seen on arrival.

    `commits` are the commits reachable from the revision and not from the
    target branch: a change whose commits hold another open change's
    revision depends on it.
    """
    project: str
    ref: str
    branch: str
    revision: str
    commits: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return f"{self.project}:{self.ref}"


class JobResult(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class BuildState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"


class ItemResult(enum.Enum):
    MERGED = "merged"
    FAILED = "failed"
    MERGE_CONFLICT = "merge-conflict"
    DEQUEUED = "dequeued"
    SUCCEEDED = "succeeded"


def state_dict(state: SpecState) -> dict[tuple[str, str], str]:
    return {(p, b): c for p, b, c in state}


def state_tuple(state: dict[tuple[str, str], str]) -> SpecState:
    return tuple(sorted((p, b, c) for (p, b), c in state.items()))
