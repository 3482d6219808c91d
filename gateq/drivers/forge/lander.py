"""Landing on a forge: push the tested commit to the base branch from the
mirror with `git push --force-with-lease=refs/heads/B:OLD`, so the branch
moves only if it is still where the commit was built; the forge then marks
the pull request merged (its head is in the branch). The landing counts
only once the forge's API shows the branch at the commit (`confirm`). A
refused lease is told apart by asking the forge for the branch: at the
commit already (a retry after a crash), elsewhere (moved), or gone.
"""
from __future__ import annotations

import time
from typing import Callable

from ...git import repo as git_repo
from ..base import DriverError, Unreachable
from ..push import Pushed, after_lost_lease, push_with_lease
from ..records import LandOutcome, LandRequest, LandResult
from .mirror import ForgeMirror

CONFIRM_WAIT = 30.0          # seconds for the API to show the pushed branch
POLL = 0.2

Tip = Callable[[str, str], "str | None"]      # (project, branch) -> its commit on the forge


def land(mirror: ForgeMirror, tip: Tip, request: LandRequest,
         wait: float = CONFIRM_WAIT) -> LandResult:
    try:
        answer = push_with_lease(mirror, request)
    except Unreachable as exc:
        return LandResult(LandOutcome.UNREACHABLE, reason=str(exc))
    if answer.pushed is Pushed.DONE:
        return confirm(mirror, tip, request, time.monotonic() + wait)
    if answer.pushed is Pushed.NO_ANSWER:
        return LandResult(LandOutcome.UNREACHABLE, reason=f"{mirror.name}: push to "
                          f"{request.project} failed: {git_repo.first_line(answer.said)}")
    if answer.pushed is Pushed.LEASE_LOST:
        return after_lost_lease(lambda: tip(request.project, request.branch), request,
                                answer.said, mirror.name, lambda _: follow(mirror, request))
    return LandResult(LandOutcome.REFUSED, reason=f"{mirror.name}: push to {request.project} "
                      f"{request.branch} refused: {answer.said}")


def confirm(mirror: ForgeMirror, tip: Tip, request: LandRequest, deadline: float) -> LandResult:
    """Pushed: wait (bounded) until the forge's API shows the branch at `new`."""
    while True:
        try:
            current = tip(request.project, request.branch)
        except DriverError as exc:
            current, error = None, str(exc)
        else:
            error = None
        if current == request.new:
            follow(mirror, request)
            return LandResult(LandOutcome.LANDED, current)
        if time.monotonic() >= deadline:
            return LandResult(LandOutcome.UNREACHABLE, reason=(
                f"{mirror.name}: pushed {request.new[:12]} to {request.project} {request.branch}, "
                f"but the forge shows {(current or '?')[:12]}" + (f" ({error})" if error else "")))
        time.sleep(POLL)


def follow(mirror: ForgeMirror, request: LandRequest) -> None:
    git_repo.run(mirror.path(request.project), "update-ref", "refs/heads/" + request.branch,
                 request.new)
