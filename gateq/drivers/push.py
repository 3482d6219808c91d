"""Landing by a push with a lease, as the remote drivers (Gerrit's
`land: push`, the forges) do it from their mirror.

`git push --force-with-lease=refs/heads/B:OLD NEW:refs/heads/B` moves the
branch only if it is still where the tested commit was built. Its
`--porcelain` line says what came of it; a lease that was refused is told
apart by asking the system where the branch is now (`after_lost_lease`): at
the commit already (a retry after a crash: landed), elsewhere (moved), or
gone (deleted).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Protocol

from .base import DriverError
from .records import LandOutcome, LandRequest, LandResult

LEASE_LOST = ("stale info", "failed to lock", "fetch first")   # git's words for a lost race


class Mirror(Protocol):
    def run(self, project: str, argv: list[str]): ...
    def url(self, project: str) -> str: ...


class Pushed(enum.Enum):
    DONE = "done"                  # the branch is at the commit
    NO_ANSWER = "no-answer"        # git said nothing of the ref: the push did not get through
    LEASE_LOST = "lease-lost"      # the branch was not where the commit was built
    REFUSED = "refused"            # the system refused the update


@dataclass(frozen=True)
class PushAnswer:
    pushed: Pushed
    said: str = ""                 # git's summary of the ref, or its stderr


def push_with_lease(mirror: Mirror, request: LandRequest) -> PushAnswer:
    """Raises Unreachable (drivers/base.py) when the system cannot be reached."""
    ref = "refs/heads/" + request.branch
    result = mirror.run(request.project, ["push", "--porcelain",
                                          f"--force-with-lease={ref}:{request.old}",
                                          mirror.url(request.project), f"{request.new}:{ref}"])
    flag, summary = porcelain(result.stdout, ref)
    if flag in (" ", "+", "=", "*"):
        return PushAnswer(Pushed.DONE, summary)
    if flag is None:
        return PushAnswer(Pushed.NO_ANSWER, result.stderr)
    if any(words in summary for words in LEASE_LOST):
        return PushAnswer(Pushed.LEASE_LOST, summary)
    return PushAnswer(Pushed.REFUSED, summary)


def porcelain(stdout: str, ref: str) -> tuple[str | None, str]:
    """(flag, summary) of the line about `ref` in `git push --porcelain`."""
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(":" + ref):
            return parts[0][:1], parts[2]
    return None, ""


def after_lost_lease(tip: Callable[[], "str | None"], request: LandRequest, summary: str,
                     system: str, follow: Callable[[str], None]) -> LandResult:
    """What a refused lease means, from where the branch is now on `system`."""
    try:
        current = tip()
    except DriverError as exc:
        return LandResult(LandOutcome.UNREACHABLE, reason=f"push refused ({summary}), then: {exc}")
    if current == request.new:
        follow(current)
        return LandResult(LandOutcome.LANDED, current)
    if current is None:
        return LandResult(LandOutcome.DELETED, reason=f"branch {request.branch} of "
                          f"{request.project} was deleted on {system}")
    return LandResult(LandOutcome.MOVED, current, reason=(
        f"branch {request.branch} of {request.project} moved from {request.old[:12]} to "
        f"{current[:12]} outside gateq"))

