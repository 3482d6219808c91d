"""Landing on Gerrit, the two ways `land:` offers.

push: the success votes first (`gerrit review --label Verified=2 N,P`:
  Gerrit takes no vote on a closed change, and reviewers expect to see it),
  then `git push --force-with-lease=refs/heads/B:OLD` of the tested commit
  from the mirror, so the branch moves only if it is still where the commit
  was built (Gerrit itself checks the old value again as it updates). A
  refused lease is told apart by asking Gerrit for the branch: at the
  commit already (a retry after a crash: landed), elsewhere (moved), or
  gone (deleted). Gerrit then closes the change as merged.
submit: `gerrit review --submit` with the votes that make it submittable;
  Gerrit merges by the project's submit type, so what lands may differ
  from what was tested. gateq waits (bounded) for the branch to move past
  the tested base with the change in it, and says whether the tree that
  landed is the tested tree: the engine publishes only if it is.
"""
from __future__ import annotations

import time
from typing import Callable

from ...git import repo as git_repo
from ..base import DriverError, NotFound, Unreachable
from ..push import Pushed, after_lost_lease, push_with_lease
from ..records import LandOutcome, LandRequest, LandResult
from .errors import GerritCommandError, GerritError
from .mirror import Mirror, said
from .query import query_changes
from .review import review_command
from .shapes import ChangeStatus
from .ssh import GerritSSH

SUBMIT_WAIT = 60.0           # seconds to see the branch move after a submit
POLL = 0.2                   # seconds between two looks at the branch meanwhile


def land_push(mirror: Mirror, request: LandRequest, ssh: GerritSSH | None = None) -> LandResult:
    if ssh is not None:
        refused = _vote(ssh, request)
        if refused is not None:
            return refused
    try:
        answer = push_with_lease(mirror, request)
    except Unreachable as exc:
        return LandResult(LandOutcome.UNREACHABLE, reason=str(exc))
    if answer.pushed is Pushed.DONE:
        _follow(mirror, request, request.new)
        return LandResult(LandOutcome.LANDED, request.new)
    if answer.pushed is Pushed.NO_ANSWER:
        return LandResult(LandOutcome.UNREACHABLE, reason=f"gerrit {mirror.ssh.name}: push to "
                          f"{request.project} failed: {said(answer.said)}")
    if answer.pushed is Pushed.LEASE_LOST:
        return after_lost_lease(lambda: mirror.remote_tip(request.project, request.branch),
                                request, answer.said, "Gerrit",
                                lambda tip: _follow(mirror, request, tip))
    return LandResult(LandOutcome.REFUSED, reason=f"gerrit {mirror.ssh.name}: push to "
                      f"{request.project} {request.branch} refused: {answer.said}")


def _vote(ssh: GerritSSH, request: LandRequest) -> LandResult | None:
    """The success votes on the change before its commit lands; None when
    given (or nothing to give, or the change merged already: a retry)."""
    change = request.change
    if not request.labels or change is None or change.number is None or change.patchset is None:
        return None
    try:
        ssh.run(review_command(change.number, change.patchset, labels=dict(request.labels)))
    except GerritError as exc:
        if _status(ssh, change.number) is ChangeStatus.MERGED:
            return None
        outcome = (LandOutcome.REFUSED if isinstance(exc, GerritCommandError)
                   else LandOutcome.UNREACHABLE)
        return LandResult(outcome, reason=f"voting before the push: {exc}")
    return None


def _follow(mirror: Mirror, request: LandRequest, tip: str) -> None:
    """Bring the mirror's branch to what landed (if a fetch did not already)."""
    git_repo.run(mirror.path(request.project), "update-ref", "refs/heads/" + request.branch, tip)


def land_submit(ssh: GerritSSH, mirror: Mirror, request: LandRequest, wait: float = SUBMIT_WAIT,
                clock: Callable[[], float] = time.monotonic) -> LandResult:
    change = request.change
    if change is None or change.number is None or change.patchset is None:
        return LandResult(LandOutcome.REFUSED, reason="land: submit needs the change's number "
                          "and patch set")
    argv = review_command(change.number, change.patchset, labels=dict(request.labels), submit=True)
    try:
        ssh.run(argv)
    except GerritError as exc:
        status = _status(ssh, change.number)
        if status is not ChangeStatus.MERGED:
            outcome = (LandOutcome.REFUSED if isinstance(exc, GerritCommandError)
                       else LandOutcome.UNREACHABLE)
            return LandResult(outcome, reason=str(exc))
    return _landed(mirror, request, clock() + wait, clock)


def _status(ssh: GerritSSH, number: int) -> ChangeStatus | None:
    """The change's status now; None when Gerrit cannot say."""
    try:
        found = query_changes(ssh, f"change:{number}")
    except GerritError:
        return None
    return found[0].status if found else None


def _landed(mirror: Mirror, request: LandRequest, deadline: float,
            clock: Callable[[], float]) -> LandResult:
    """Wait until the mirror's branch holds the change, past `old`."""
    path, revision = mirror.path(request.project), request.change.revision
    while True:
        try:
            mirror.fetch_branches(request.project, [request.branch])
        except NotFound:
            return LandResult(LandOutcome.DELETED, reason=f"branch {request.branch} is gone")
        except DriverError as exc:
            if clock() >= deadline:
                return LandResult(LandOutcome.UNREACHABLE, reason=f"submitted, then: {exc}")
            time.sleep(POLL)
            continue
        tip = mirror.tips(request.project, [request.branch]).get(request.branch)
        if tip and tip != request.old and (revision is None
                                           or git_repo.is_ancestor(path, revision, tip)):
            same = _tree(path, tip) == _tree(path, request.new)
            return LandResult(LandOutcome.LANDED, tip, same, None if same else (
                f"Gerrit landed {tip[:12]}, whose tree is not the tree gateq tested "
                f"({request.new[:12]}): the branch moved or Gerrit merged differently"))
        if clock() >= deadline:
            return LandResult(LandOutcome.UNREACHABLE, reason=(
                f"submitted, but branch {request.branch} did not show the change within "
                "the wait"))
        time.sleep(POLL)


def _tree(path: str, commit: str) -> str:
    return git_repo.git(path, "rev-parse", commit + "^{tree}")
