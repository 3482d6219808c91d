"""A pipeline's requirements (`require:`) against a change's review state.

They are checked when a change is enqueued (on the state its event
brought) and again before it lands (CheckChange). A requirement applies
to the changes of its connection; a change without a review state (the
git driver) meets every requirement. An approval {Code-Review: 2} is met
by a current vote of at least 2 (at most, for a negative value).
"""
from __future__ import annotations

from ..config.model import Pipeline, Requirement
from .types import Approvals, ReviewState


def vote(label: str, value: int) -> str:
    return f"{label}{value:+d}"


def approval_met(label: str, value: int, votes: Approvals) -> bool:
    return any(l == label and (v >= value if value >= 0 else v <= value) for l, v in votes)


def unmet(requirement: Requirement, review: ReviewState) -> list[str]:
    """What the change lacks, one phrase each ('needs Code-Review+2 (has none)')."""
    out = []
    for label, value in requirement.approvals:
        if not approval_met(label, value, review.approvals):
            has = [vote(l, v) for l, v in review.approvals if l == label]
            out.append(f"needs {vote(label, value)} (has {', '.join(has) if has else 'none'})")
    if requirement.open is not None and review.open != requirement.open:
        out.append("is not open" if requirement.open else "is open")
    if requirement.current_patchset and not review.current_patchset:
        out.append("is not the current patch set")
    if requirement.wip is not None and review.wip != requirement.wip:
        out.append("is work in progress" if review.wip else "is not work in progress")
    return out


def applies(pipeline: Pipeline, connection: str) -> bool:
    """Whether the pipeline requires anything of a change on `connection`."""
    return any(r.connection == connection for r in pipeline.requirements)


def missing(pipeline: Pipeline, connection: str, review: ReviewState | None) -> str | None:
    """Why the change does not meet the pipeline's requirements, or None."""
    if review is None:
        return None
    found = [p for r in pipeline.requirements if r.connection == connection for p in unmet(r, review)]
    return "; ".join(found) if found else None


def at_landing(pipeline: Pipeline, connection: str, review: ReviewState | None) -> str | None:
    """Why the change may not land now: a requirement, or it is closed or
    has a newer patch set (whatever the requirements say, as Zuul does)."""
    if review is None:
        return None
    if not review.open:
        return "is no longer open"
    if not review.current_patchset:
        return "has a newer patch set"
    found = missing(pipeline, connection, review)
    return f"no longer meets the requirements: {found}" if found else None


def on_arrival(pipeline: Pipeline, connection: str, review: ReviewState | None) -> str | None:
    """Why a change its event brought may not be enqueued: an old patch set
    (whatever the requirements say: it would replace the current one), or
    a requirement it does not meet."""
    if review is None:
        return None
    if not review.current_patchset:
        return "is not the current patch set"
    found = missing(pipeline, connection, review)
    return f"does not meet the requirements of pipeline {pipeline.name}: {found}" if found else None
