"""ReviewEvents of webhook deliveries, in the words every forge shares:
a new revision, a label put on or taken off, an approving review, a
comment, closed, merged, reopened, draft or ready. The dialects read their
payloads and call these."""
from __future__ import annotations

from ..records import ChangeRef, ChangeState, Origin, ReviewEvent, ReviewEventKind, Vote
from .pulls import APPROVED, PullRequest, label_vote

K = ReviewEventKind


def of_pull(connection: str, kind: ReviewEventKind, pull: PullRequest, actor: str | None = None,
            approvals: tuple[Vote, ...] = (), comment: str | None = None) -> ReviewEvent:
    return ReviewEvent(connection=connection, kind=kind, project=pull.project, branch=pull.branch,
                       change=pull.change(), approvals=approvals, comment=comment,
                       state=pull.state, wip=pull.draft, actor=actor, origin=Origin.HOOK)


def labels_changed(connection: str, pull: PullRequest, added: list[str], removed: list[str],
                   actor: str | None) -> list[ReviewEvent]:
    """A label put on approves (a trigger may name it); one taken off is a comment."""
    events = []
    if added:
        events.append(of_pull(connection, K.APPROVED, pull, actor,
                              tuple(Vote(label_vote(n), 1, 0, actor) for n in added)))
    if removed:
        events.append(of_pull(connection, K.COMMENT, pull, actor,
                              tuple(Vote(label_vote(n), 0, 1, actor) for n in removed)))
    return events


def review_approved(connection: str, pull: PullRequest, actor: str | None,
                    text: str | None = None) -> ReviewEvent:
    return of_pull(connection, K.APPROVED, pull, actor, (Vote(APPROVED, 1, 0, actor),), text)


def commented(connection: str, project: str, number: int, head_ref: str, text: str,
              actor: str | None, url: str | None) -> ReviewEvent:
    """A comment names the pull request only: prepare() asks for its head and branch."""
    return ReviewEvent(connection=connection, kind=K.COMMENT, project=project,
                       change=ChangeRef(head_ref, None, number, None, url), comment=text,
                       actor=actor, origin=Origin.HOOK)


def closed(connection: str, pull: PullRequest, actor: str | None) -> ReviewEvent:
    kind = K.MERGED if pull.state is ChangeState.MERGED else K.ABANDONED
    return of_pull(connection, kind, pull, actor)
