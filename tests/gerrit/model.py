"""The stand-in's state: accounts, projects, changes with their patch sets,
votes and messages, and every `gerrit review` call it received.

The state is saved as one JSON file after every change (atomically, by
rename), so a stand-in killed with SIGKILL and started again has lost
nothing, as a real Gerrit would. Only this module knows that format.
"""
from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field, fields


class Status(enum.Enum):
    NEW = "NEW"
    MERGED = "MERGED"
    ABANDONED = "ABANDONED"


class SubmitType(enum.Enum):
    MERGE_IF_NECESSARY = "MERGE_IF_NECESSARY"
    FAST_FORWARD_ONLY = "FAST_FORWARD_ONLY"
    MERGE_ALWAYS = "MERGE_ALWAYS"


@dataclass
class Account:
    username: str
    name: str
    email: str
    keys: list[str] = field(default_factory=list)    # "ssh-ed25519 AAAA..."
    can_push: bool = False                            # to refs/heads/* and refs/tags/*


@dataclass
class Vote:
    label: str
    value: int
    by: str                 # username
    granted_on: int


@dataclass
class PatchSet:
    number: int
    revision: str
    parents: list[str]
    ref: str
    uploader: str
    author_name: str
    author_email: str
    created_on: int
    kind: str = "REWORK"
    votes: list[Vote] = field(default_factory=list)


@dataclass
class Message:
    timestamp: int
    author: str
    text: str
    patchset: int
    tag: str | None = None


@dataclass
class Change:
    number: int
    project: str
    branch: str
    change_id: str
    subject: str
    commit_message: str
    owner: str
    created_on: int
    updated_on: int
    updated_seq: int               # orders "most recently updated" within one second
    status: Status = Status.NEW
    wip: bool = False
    topic: str | None = None
    patchsets: list[PatchSet] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    @property
    def current(self) -> PatchSet:
        return self.patchsets[-1]

    def patchset(self, number: int) -> PatchSet | None:
        return next((ps for ps in self.patchsets if ps.number == number), None)

    @property
    def is_open(self) -> bool:
        return self.status is Status.NEW


@dataclass
class Project:
    name: str
    head: str = "main"
    submit_type: SubmitType = SubmitType.MERGE_IF_NECESSARY


@dataclass
class ReviewCall:
    """One `gerrit review` as received: `argv` exactly as the server split
    it, what it asked for, and what came of it (applied, failed: ..., or
    cancelled when the client hung up while the command was held)."""
    seq: int
    user: str
    command: str
    argv: list[str]
    target: str
    labels: dict[str, int]
    message: str | None
    tag: str | None
    submit: bool
    abandon: bool
    restore: bool
    outcome: str
    at: float


# OpenStack-like labels, as Zuul users know them: each needs its maximum to
# submit, and its minimum blocks.
DEFAULT_LABELS = {
    "Code-Review": {"min": -2, "max": 2, "function": "MaxWithBlock"},
    "Verified": {"min": -2, "max": 2, "function": "MaxWithBlock"},
    "Workflow": {"min": -1, "max": 1, "function": "MaxWithBlock"},
}


@dataclass
class State:
    next_number: int = 1
    seq: int = 0
    version: str = "3.9.1"
    web_url: str = "http://review.example.org"
    query_limit: int = 500
    labels: dict[str, dict] = field(default_factory=lambda: json.loads(json.dumps(DEFAULT_LABELS)))
    accounts: dict[str, Account] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    changes: dict[int, Change] = field(default_factory=dict)
    reviews: list[ReviewCall] = field(default_factory=list)

    def tick(self) -> int:
        self.seq += 1
        return self.seq


# -- persistence -------------------------------------------------------------

def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def save(state: State, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(_plain(asdict(state)), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _build(cls, data: dict):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def _change(data: dict) -> Change:
    change = _build(Change, data)
    change.status = Status(change.status)
    change.patchsets = [_patchset(ps) for ps in data["patchsets"]]
    change.messages = [_build(Message, m) for m in data["messages"]]
    return change


def _patchset(data: dict) -> PatchSet:
    ps = _build(PatchSet, data)
    ps.votes = [_build(Vote, v) for v in data["votes"]]
    return ps


def load(path: str) -> State:
    with open(path) as f:
        data = json.load(f)
    state = _build(State, data)
    state.accounts = {k: _build(Account, v) for k, v in data["accounts"].items()}
    state.projects = {k: _build(Project, v) for k, v in data["projects"].items()}
    for project in state.projects.values():
        project.submit_type = SubmitType(project.submit_type)
    state.changes = {int(k): _change(v) for k, v in data["changes"].items()}
    state.reviews = [_build(ReviewCall, r) for r in data["reviews"]]
    return state
