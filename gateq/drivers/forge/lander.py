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
from ..records import LandOutcome, LandRequest, LandResult
from .mirror import ForgeMirror

CONFIRM_WAIT = 30.0          # seconds for the API to show the pushed branch
POLL = 0.2

Tip = Callable[[str, str], "str | None"]      # (project, branch) -> its commit on the forge


def land(mirror: ForgeMirror, tip: Tip, request: LandRequest,
         wait: float = CONFIRM_WAIT) -> LandResult:
    ref = "refs/heads/" + request.branch
    try:
        result = mirror.run(request.project, ["push", "--porcelain",
                                              f"--force-with-lease={ref}:{request.old}",
                                              mirror.url(request.project), f"{request.new}:{ref}"])
    except Unreachable as exc:
        return LandResult(LandOutcome.UNREACHABLE, reason=str(exc))
    flag, summary = porcelain(result.stdout, ref)
    if flag in (" ", "+", "=", "*"):
        return confirm(mirror, tip, request, time.monotonic() + wait)
    if flag is None:
        return LandResult(LandOutcome.UNREACHABLE, reason=f"{mirror.name}: push to "
                          f"{request.project} failed: {git_repo.first_line(result.stderr)}")
    if any(word in summary for word in ("stale info", "failed to lock", "fetch first")):
        return lost(mirror, tip, request, summary)
    return LandResult(LandOutcome.REFUSED, reason=f"{mirror.name}: push to {request.project} "
                      f"{request.branch} refused: {summary}")


def porcelain(stdout: str, ref: str) -> tuple[str | None, str]:
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(":" + ref):
            return parts[0][:1], parts[2]
    return None, ""


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


def lost(mirror: ForgeMirror, tip: Tip, request: LandRequest, summary: str) -> LandResult:
    try:
        current = tip(request.project, request.branch)
    except DriverError as exc:
        return LandResult(LandOutcome.UNREACHABLE, reason=f"push refused ({summary}), then: {exc}")
    if current == request.new:
        follow(mirror, request)
        return LandResult(LandOutcome.LANDED, current)
    if current is None:
        return LandResult(LandOutcome.DELETED, reason=f"branch {request.branch} of "
                          f"{request.project} was deleted on {mirror.name}")
    return LandResult(LandOutcome.MOVED, current, reason=(
        f"branch {request.branch} of {request.project} moved from {request.old[:12]} to "
        f"{current[:12]} outside gateq"))


def follow(mirror: ForgeMirror, request: LandRequest) -> None:
    git_repo.run(mirror.path(request.project), "update-ref", "refs/heads/" + request.branch,
                 request.new)
