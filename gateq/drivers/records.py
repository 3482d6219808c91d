"""Driver-neutral records: what every driver tells the engine (review
events, a change's information, a landing's result, a connection's state)
and what the engine asks a reporter to say. Frozen, free of I/O, and with
a JSON form (`as_dict`/`from_dict`) so they can be journaled as they are.

A change is named by a ChangeRef: the ref its commit is at, and where the
system has them its number, patch set, revision and web address.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from typing import Mapping

from .depends_on import DependsOn, GerritChange, GitRef, Unrecognised


class ReviewEventKind(enum.Enum):
    """The review events gateq understands, whichever system sent them."""
    PROPOSED = "proposed"          # a new change, or a new patch set of one
    COMMENT = "comment"            # a comment, which may carry votes
    APPROVED = "approved"          # approved outright (git driver, `gateq event approved`)
    MERGED = "merged"
    ABANDONED = "abandoned"
    RESTORED = "restored"
    REF_UPDATED = "ref-updated"    # a branch or tag moved, outside any change
    WIP_CHANGED = "wip-changed"


class ChangeState(enum.Enum):
    OPEN = "open"
    MERGED = "merged"
    ABANDONED = "abandoned"
    UNKNOWN = "unknown"            # the system did not say


class Origin(enum.Enum):
    """How gateq heard of an event: the engine treats them alike, but a
    reconciled event stands for a state found by a query, not a happening."""
    STREAM = "stream"              # pushed by the system (stream-events)
    HOOK = "hook"                  # a hook script of the system or of a git repository
    RECONCILED = "reconciled"      # found by a query after the stream may have missed it


@dataclass(frozen=True)
class Vote:
    """A vote on a label; `old_value` is set when the event changed it."""
    label: str
    value: int
    old_value: int | None = None
    by: str | None = None          # the voter's username, where known


@dataclass(frozen=True)
class ChangeRef:
    """Where a change's commit is; number and patchset where the system has them."""
    ref: str | None                # refs/changes/34/1234/2, refs/heads/fix-1, ...
    revision: str | None = None
    number: int | None = None
    patchset: int | None = None
    url: str | None = None

    @property
    def target(self) -> str:
        """`N,P` (Gerrit's name of a patch set) when known, else what is."""
        if self.number is not None:
            return f"{self.number},{self.patchset}" if self.patchset is not None else str(self.number)
        return self.ref or self.revision or "?"


@dataclass(frozen=True)
class RefMove:
    """A ref that moved: `old` or `new` is None when it was created or deleted."""
    ref: str
    old: str | None
    new: str | None

    @property
    def branch(self) -> str | None:
        return self.ref[len("refs/heads/"):] if self.ref.startswith("refs/heads/") else None


@dataclass(frozen=True)
class ReviewEvent:
    """One thing a review system said about a change or a branch.

    `approvals` are the votes the event carries (Gerrit's comment-added
    lists every label, unchanged ones without `old_value`); for a
    reconciled event, the change's current votes. `pipeline` is set on
    reconciled events: the pipeline whose trigger the query answered.
    """
    connection: str
    kind: ReviewEventKind
    project: str
    branch: str | None = None
    change: ChangeRef | None = None
    approvals: tuple[Vote, ...] = ()
    comment: str | None = None
    state: ChangeState = ChangeState.UNKNOWN
    wip: bool | None = None
    actor: str | None = None
    ref_move: RefMove | None = None
    created_at: float | None = None
    origin: Origin = Origin.STREAM
    pipeline: str | None = None

    def vote(self, label: str) -> Vote | None:
        return next((v for v in self.approvals if v.label == label), None)

    def with_change(self, change: ChangeRef) -> "ReviewEvent":
        return replace(self, change=change)

    def as_dict(self) -> dict:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "ReviewEvent":
        return _build(cls, data)


@dataclass(frozen=True)
class ChangeInfo:
    """A change as the system shows it now (asked for, not heard).

    `parents` are the open changes this one is based on (a relation
    chain), as the revisions this change's commits sit on; `stale_parents`
    the numbers of those based on an outdated patch set of theirs.
    """
    connection: str
    project: str
    branch: str
    change: ChangeRef
    state: ChangeState
    wip: bool = False
    approvals: tuple[Vote, ...] = ()
    commit_message: str | None = None
    change_id: str | None = None
    subject: str | None = None
    depends_on: DependsOn = field(default_factory=DependsOn)
    parents: tuple[ChangeRef, ...] = ()
    stale_parents: tuple[int, ...] = ()
    submittable: bool | None = None

    @property
    def is_open(self) -> bool:
        return self.state is ChangeState.OPEN

    def votes(self, label: str) -> tuple[int, ...]:
        return tuple(v.value for v in self.approvals if v.label == label)

    def has_votes(self, wanted: Mapping[str, int]) -> bool:
        """Each label carries at least one vote of exactly the value wanted."""
        return all(value in self.votes(label) for label, value in wanted.items())


class LandOutcome(enum.Enum):
    LANDED = "landed"              # the branch holds the commit (also: it already did)
    MOVED = "moved"                # the branch moved since the commit was built: lost the race
    DELETED = "deleted"            # the branch no longer exists
    UNREACHABLE = "unreachable"    # the server could not be reached: nothing known, retry
    REFUSED = "refused"            # the server said no (permissions, not submittable...)


@dataclass(frozen=True)
class LandRequest:
    """Put `new` (tested, built on `old`) on `branch`. `change` and `labels`
    are for systems that merge themselves (Gerrit's submit), which need the
    change and the votes that make it submittable."""
    project: str
    branch: str
    old: str
    new: str
    change: ChangeRef | None = None
    labels: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class LandResult:
    """What a landing came to. `commit` is what the branch holds now when
    known (after a submit, the commit the system made); `tree_matches`
    says whether its tree is the tested one: publish only if it is."""
    outcome: LandOutcome
    commit: str | None = None
    tree_matches: bool = True
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is LandOutcome.LANDED


@dataclass(frozen=True)
class Report:
    """What to say on a change: votes, a message, maybe submit. `id` is
    unique per report and stays the same across retries; reporters put it
    in the message, so a report that may have been sent can be found."""
    id: str
    connection: str
    project: str
    change: ChangeRef
    pipeline: str
    message: str = ""
    labels: tuple[tuple[str, int], ...] = ()
    submit: bool = False

    @property
    def tag(self) -> str:
        """Gerrit's convention for robot comments a UI may hide."""
        return f"autogenerated:gateq:{self.pipeline}"

    def as_dict(self) -> dict:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "Report":
        return _build(cls, data)


class LinkState(enum.Enum):
    UP = "up"
    CONNECTING = "connecting"
    DOWN = "down"
    STOPPED = "stopped"
    LOCAL = "local"                # nothing to connect to (the git driver)


@dataclass(frozen=True)
class ConnectionStatus:
    """A snapshot for `gateq status`: `since` is wall-clock time of the
    last state change; reconciliation figures are of the last run."""
    connection: str
    driver: str
    state: LinkState
    since: float | None = None
    last_error: str | None = None
    connects: int = 0              # successful (re)connections
    events: int = 0
    reconciliations: int = 0
    last_reconcile_at: float | None = None
    last_reconcile_queries: int = 0
    last_reconcile_seconds: float | None = None
    last_reconcile_error: str | None = None

    def as_dict(self) -> dict:
        return _plain(self)


# -- JSON forms -------------------------------------------------------------

_NESTED = {"change": ChangeRef, "ref_move": RefMove}
_ENUMS = {"kind": ReviewEventKind, "state": ChangeState, "origin": Origin, "outcome": LandOutcome}


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _build(cls, data: Mapping):
    """The record of a dict made by _plain (unknown keys are an error)."""
    known = {f.name for f in fields(cls)}
    extra = set(data) - known
    if extra:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(sorted(extra))}")
    body = dict(data)
    for key, kind in _ENUMS.items():
        if key in body and body[key] is not None:
            body[key] = kind(body[key])
    for key, kind in _NESTED.items():
        if body.get(key) is not None:
            body[key] = kind(**body[key])
    if "approvals" in body:
        body["approvals"] = tuple(Vote(**v) for v in body["approvals"])
    if "labels" in body:
        body["labels"] = tuple((str(label), int(value)) for label, value in body["labels"])
    return cls(**body)


__all__ = ["ChangeInfo", "ChangeRef", "ChangeState", "ConnectionStatus", "DependsOn",
           "GerritChange", "GitRef", "LandOutcome", "LandRequest", "LandResult", "LinkState",
           "Origin", "RefMove", "Report", "ReviewEvent", "ReviewEventKind", "Unrecognised",
           "Vote"]
