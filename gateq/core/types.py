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
    CHANGE_MISSING = "change-missing"    # its pinned commit left the repository
    BRANCH_MISSING = "branch-missing"    # its target branch was deleted
    DEQUEUED = "dequeued"
    SUCCEEDED = "succeeded"


class MergeFailure(enum.Enum):
    """Why a merge did not happen. Only a conflict depends on the items
    ahead; a missing change or branch stays missing whatever the base."""
    CONFLICT = "conflict"
    CHANGE_MISSING = "change-missing"
    BRANCH_MISSING = "branch-missing"

    @property
    def final(self) -> bool:
        return self is not MergeFailure.CONFLICT

    @property
    def result(self) -> ItemResult:
        return ItemResult.MERGE_CONFLICT if self is MergeFailure.CONFLICT else ItemResult(self.value)


def full_ref(ref: str) -> str:
    """'fix-1' names a branch; anything under 'refs/' is taken as written."""
    return ref if ref.startswith("refs/") else "refs/heads/" + ref


def same_ref(a: str, b: str) -> bool:
    """`fix-1` and `refs/heads/fix-1` name the same change."""
    return full_ref(a) == full_ref(b)


def state_dict(state: SpecState) -> dict[tuple[str, str], str]:
    return {(p, b): c for p, b, c in state}


def state_tuple(state: dict[tuple[str, str], str]) -> SpecState:
    return tuple(sorted((p, b, c) for (p, b), c in state.items()))
