"""The requirement checks before an item lands (CheckChange, ChangeChecked).

A head item that succeeded in a pipeline with requirements asks, once per
generation, the state of each of its changes the requirements cover, and
lands only when every answer says they still hold: a change that lost a
vote, got a new patch set or was closed meanwhile takes the item out. A
check that could not be made (its system unreachable) is asked again, up
to TRIES times in all; then the item leaves with the reason. Answers are
kept in `Item.checks` by change name, and dropped on a reset.
"""
from __future__ import annotations

from ..config.model import Layout, Pipeline
from . import requirements
from .actions import CheckChange
from .events import ChangeChecked
from .state import Item, Member
from .types import CheckAnswer

TRIES = 3


def covered(item: Item, pipeline: Pipeline, layout: Layout) -> list[Member]:
    """The item's changes the pipeline's requirements apply to."""
    if not pipeline.requirements:
        return []
    return [m for m in item.members
            if m.change.project in layout.projects
            and requirements.applies(pipeline, layout.projects[m.change.project].connection)]


def before_landing(item: Item, pipeline: Pipeline, layout: Layout) -> tuple[list[CheckChange], str | None, bool]:
    """(the checks to ask now, why the item may not land, whether it may land now)."""
    members = covered(item, pipeline, layout)
    asks = []
    for member in members:
        if member.change.name not in item.checks:
            item.checks[member.change.name] = CheckAnswer()
            asks.append(CheckChange(item.id, item.generation, member.change, item.pipeline))
    refused = [f"{m.change.name} {a.reason}" for m in members
               if (a := item.checks[m.change.name]).met is False]
    if refused:
        return asks, "; ".join(refused), False
    return asks, None, all(item.checks[m.change.name].met for m in members)


def answered(item: Item, event: ChangeChecked, pipeline: Pipeline, layout: Layout) -> list[CheckChange]:
    """Keep the answer (for this generation: the caller checked); the check
    asked again if it could not be made and tries are left."""
    member = asked(item, event.change)
    if member is None:
        return []
    name, before = member.change.name, item.checks[member.change.name]
    if event.review is None and event.reason is not None:
        if before.tries < TRIES:
            item.checks[name] = CheckAnswer(None, event.reason, before.tries + 1)
            return [CheckChange(item.id, item.generation, member.change, item.pipeline)]
        item.checks[name] = CheckAnswer(False, f"could not be checked before landing: {event.reason}",
                                        before.tries)
        return []
    connection = layout.projects[member.change.project].connection
    why = requirements.at_landing(pipeline, connection, event.review)
    item.checks[name] = CheckAnswer(why is None, why, before.tries)
    return []


def asked(item: Item, change: str) -> Member | None:
    """The change an answer is for: named by ref (or project:ref), else,
    from an adapter that does not name it, the first still awaited."""
    waiting = [m for m in item.members
               if (a := item.checks.get(m.change.name)) is not None and a.met is None]
    if change:
        return next((m for m in waiting if change in (m.change.ref, m.change.name)), None)
    return waiting[0] if waiting else None
