"""Small value types shared by events, actions and queue state."""
from __future__ import annotations

import enum
from dataclasses import dataclass

# A speculative state: sorted (project, branch, commit) triples.
SpecState = tuple[tuple[str, str, str], ...]

# Votes: (label, value) pairs, e.g. (("Code-Review", 2),), as config.model has them.
Approvals = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ChangeKey:
    """A change whatever its patch set: its connection, its project and its
    id there (the change number for Gerrit, else its full ref)."""
    connection: str
    project: str
    id: str

    @property
    def name(self) -> str:
        return f"{self.project} change {self.id}" if self.id.isdigit() else f"{self.project}:{self.id}"


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
    number: int | None = None        # a review system's change number (Gerrit), else None
    patchset: int | None = None
    url: str | None = None           # its page on the review system
    needs: tuple[ChangeKey, ...] = ()   # the changes it names as needed (Depends-On, its parents)

    @property
    def name(self) -> str:
        return f"{self.project}:{self.ref}"

    @property
    def key_id(self) -> str:
        """Its ChangeKey's id: every patch set of a numbered change shares it."""
        return str(self.number) if self.number is not None else full_ref(self.ref)

    def key(self, connection: str) -> ChangeKey:
        """Its key on `connection` (a Change does not name its connection:
        its project's, or the event's that brought it, does)."""
        return ChangeKey(connection, self.project, self.key_id)


@dataclass(frozen=True)
class ReviewState:
    """A change's state on its review system now, for the requirements;
    the git driver has none (None where one is expected: nothing applies)."""
    open: bool
    wip: bool
    current_patchset: bool
    approvals: Approvals = ()


class NeedStatus(enum.Enum):
    MERGED = "merged"
    OPEN = "open"
    ABANDONED = "abandoned"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NeededChange:
    """A change some change needs, as its connection told it: `change` is
    pinned (with its own `needs`) when it is open; `reason` says why an
    unknown one could not be looked up. `status` is taken by value too."""
    key: ChangeKey
    status: NeedStatus
    change: Change | None = None
    review: ReviewState | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, NeedStatus):
            object.__setattr__(self, "status", NeedStatus(self.status))


@dataclass(frozen=True)
class CheckAnswer:
    """What the review system said of one change of an item asked about
    before landing: `met` None while the answer is awaited; `tries`, the
    checks asked (one that could not be made is asked again, a few times)."""
    met: bool | None = None
    reason: str | None = None
    tries: int = 1


class JobResult(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    # The node it ran on stopped answering (or refused us): not the change's
    # fault, so it runs again elsewhere without using up an attempt.
    NODE_FAILURE = "node-failure"


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
    NOT_ENQUEUED = "not-enqueued"        # refused on arrival: a requirement or a needed change, said why


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
