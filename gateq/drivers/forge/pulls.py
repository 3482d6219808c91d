"""A pull (merge) request as gateq reads it from any forge, and what it
becomes in the driver layer's words.

A forge has no votes: what a pipeline requires of a pull request is its
labels and its reviews, so they are told as votes the core already reads,
`label:NAME` = 1 for each label it carries and `review:approved` = 1 when
it has an approving review that no later review of the same person took
back. A label taken off is an event carrying `label:NAME` 1 -> 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..records import ChangeInfo, ChangeRef, ChangeState, Vote

APPROVED = "review:approved"


def label_vote(name: str) -> str:
    return "label:" + name


@dataclass(frozen=True)
class PullRequest:
    """`head_ref` is where the forge keeps the head commit in the base
    repository (refs/pull/N/head, refs/merge-requests/N/head)."""
    project: str
    number: int
    branch: str                       # the base branch it is for
    head: str                         # the head commit
    head_ref: str
    state: ChangeState
    url: str | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    title: str = ""
    body: str = ""

    @property
    def is_open(self) -> bool:
        return self.state is ChangeState.OPEN

    def change(self) -> ChangeRef:
        return ChangeRef(self.head_ref, self.head, self.number, None, self.url)

    def votes(self, approved: bool) -> tuple[Vote, ...]:
        found = tuple(Vote(label_vote(name), 1) for name in self.labels)
        return found + ((Vote(APPROVED, 1),) if approved else ())


def approved_by_reviews(reviews: Iterable[tuple[str, str]]) -> bool:
    """(user, state) in order, states APPROVED / CHANGES_REQUESTED / other:
    each person's last approving or rejecting word counts."""
    last: dict[str, str] = {}
    for user, state in reviews:
        if state in ("APPROVED", "CHANGES_REQUESTED", "REQUEST_CHANGES", "DISMISSED"):
            last[user] = state
    return "APPROVED" in last.values() and not any(
        s in ("CHANGES_REQUESTED", "REQUEST_CHANGES") for s in last.values())


def change_info(connection: str, pull: PullRequest, approved: bool,
                depends_on) -> ChangeInfo:
    """The description (title and body) carries the Depends-On footers."""
    return ChangeInfo(connection=connection, project=pull.project, branch=pull.branch,
                      change=pull.change(), state=pull.state, wip=pull.draft,
                      approvals=pull.votes(approved),
                      commit_message=f"{pull.title}\n\n{pull.body}", subject=pull.title,
                      depends_on=depends_on)


def meets(pull: PullRequest, approved: bool, wanted: Mapping[str, int]) -> bool:
    """Each wanted vote is carried (labels and approval are worth 1)."""
    have = {v.label: v.value for v in pull.votes(approved)}
    return all(have.get(label, 0) >= value if value > 0 else have.get(label, 0) <= value
               for label, value in wanted.items())
