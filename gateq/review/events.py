"""A review system's event as the core's TriggerEvent: the change pinned
(its revision, its commits not on the branch), the votes the event carries,
what the reviewer wrote, the change's state as its system tells it now,
and every change it needs (needs.py). Blocking calls: run off the loop.

The votes an event carries: those it changed (Gerrit's comment-added lists
every label, the changed ones with their old value), or, for a reconciled
event, which stands for a state, every current vote.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..config.model import Layout
from ..core.events import TriggerEvent
from ..core.types import Change
from ..drivers.base import AlreadyOnBranch, Connection
from ..drivers.records import ChangeInfo, ChangeRef, ChangeState, Origin, ReviewEvent, ReviewEventKind
from .needs import Resolver, key_id, needs_of, pin, review_state, with_needs


class Ignored(Exception):
    """The event is nothing for the gate; the message says why (one line)."""


@dataclass(frozen=True)
class Built:
    """The TriggerEvent an event became, with what the loop needs to skip
    a reconciled change already queued or reported on that patch set."""
    event: TriggerEvent
    origin: Origin
    pipeline: str | None = None


def carried_votes(event: ReviewEvent) -> tuple[tuple[str, int], ...]:
    if event.origin is Origin.RECONCILED:
        return tuple((v.label, v.value) for v in event.approvals)
    return tuple((v.label, v.value) for v in event.approvals if v.old_value is not None)


class EventBuilder:
    def __init__(self, resolver: Resolver, clock: Callable[[], float]) -> None:
        self.resolver = resolver
        self.layout: Layout = resolver.layout
        self.clock = clock

    def build(self, connection: Connection, event: ReviewEvent) -> Built:
        """Raises Ignored, or a DriverError (Unreachable: ask again later)."""
        if event.change is None or event.kind is ReviewEventKind.REF_UPDATED:
            raise Ignored(f"{event.kind.value} of {event.project}: a branch move (the mirror "
                          "follows it)")
        project = self.layout.projects.get(event.project)
        if project is None or project.connection != connection.name:
            raise Ignored(f"project {event.project} of connection {connection.name} is in no "
                          "layout")
        votes, comment = carried_votes(event), connection.comment_text(event)
        if event.kind is ReviewEventKind.COMMENT and not votes and \
                not self.comment_triggers(connection.name, comment):
            raise Ignored(f"a comment on {event.project} {event.change.target} that changes no "
                          "vote and no trigger's comment matches")
        branch = event.branch or project.default_branch
        info = connection.change_info(event.project, event.change, branch)
        change = self.pinned(connection, info, event.change)
        needs = needs_of(info, self.layout, connection.name, info.branch or branch)
        found = self.resolver.resolve(needs)
        change = with_needs(change, self.resolver.keys(needs, found))
        built = TriggerEvent(
            at=self.clock(), connection=connection.name, kind=connection.event_name(event.kind),
            change=change, approvals=votes, comment=comment,
            review=review_state(connection, info, event.change.patchset),
            needed=self.resolver.needed(found))
        return Built(built, event.origin, event.pipeline)

    def pinned(self, connection: Connection, info: ChangeInfo, ref: ChangeRef):
        """An open change pinned; a closed one (or one whose commit is on
        its branch already) as it is, without commits: nothing to test."""
        if info.state is ChangeState.OPEN:
            try:
                return pin(connection, info, complete(ref, info))
            except AlreadyOnBranch:
                pass
        ref = complete(ref, info)
        return Change(project=info.project, ref=ref.ref or key_id(ref),
                               branch=info.branch, revision=ref.revision or "",
                               commits=frozenset(), number=ref.number, patchset=ref.patchset,
                               url=ref.url)

    def comment_triggers(self, connection: str, comment: str | None) -> bool:
        """Whether some trigger of the connection reads this comment."""
        return comment is not None and any(
            t.connection == connection and t.comment is not None and re.search(t.comment, comment)
            for p in self.layout.pipelines.values() for t in p.triggers)


def complete(ref: ChangeRef, info: ChangeInfo) -> ChangeRef:
    """The event's patch set, with what the system told of the change."""
    if ref.revision and ref.ref:
        return ChangeRef(ref.ref, ref.revision, ref.number or info.change.number,
                         ref.patchset, ref.url or info.change.url)
    return ChangeRef(info.change.ref or ref.ref, info.change.revision or ref.revision,
                     info.change.number, info.change.patchset, ref.url or info.change.url)
