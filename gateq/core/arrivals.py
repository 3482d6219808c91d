"""What happens when a code-review event arrives: which pipelines it
triggers (triggers.py), whether the change may be enqueued there (its
requirements, requirements.py; what it needs, needs.py) and how (alone,
behind the changes it needs, or in one item with them), else a
not-enqueued result that says why. A closed change leaves every pipeline,
and a review system's new patch set supersedes the older ones in all.
"""
from __future__ import annotations

from ..config.model import Layout, Pipeline
from . import needs, requirements, triggers
from .actions import Action, Report, ResultRecord
from .events import TriggerEvent
from .queues import Queues
from .state import Stage, State
from .types import Change, ChangeKey, ItemResult


class Arrivals:
    def __init__(self, layout: Layout, state: State, queues: Queues):
        self.layout, self.state, self.queues = layout, state, queues

    def trigger(self, event: TriggerEvent) -> list[Action]:
        """A review event: a closed change leaves, a new patch set supersedes,
        and each pipeline it triggers admits the change, or says why not."""
        project = self.layout.projects.get(event.change.project)
        if project is None:
            return []
        if event.review is not None and not event.review.open:
            return self.closed(event)
        actions = self.supersede(event)
        for pipeline in self.layout.pipelines.values():
            if pipeline.name in project.pipelines and triggers.triggered(pipeline, event):
                actions += self.admit(pipeline, event)
        return actions

    def closed(self, event: TriggerEvent) -> list[Action]:
        """The change was abandoned or merged outside the gate: it leaves every
        pipeline (unless it is landing: then that is gateq's own merge)."""
        actions: list[Action] = []
        for pipeline in self.layout.pipelines:
            for item, member in self.queues.lookup.same_change(pipeline, event.change.project,
                                                              event.change.key_id):
                if item.stage is not Stage.LANDING and member.id in self.state.holders:
                    actions += self.queues.remove_change(item, member, ItemResult.DEQUEUED,
                                                         f"no longer open ({event.kind})")
        return actions

    def supersede(self, event: TriggerEvent) -> list[Action]:
        """A review system's new patch set takes the older ones out of every
        pipeline, whether or not it is enqueued itself (Zuul's default)."""
        change = event.change
        if event.review is None or not event.review.current_patchset or change.number is None:
            return []
        actions: list[Action] = []
        for pipeline in self.layout.pipelines:
            for item, member in self.queues.lookup.same_change(pipeline, change.project, change.key_id):
                if member.change.revision != change.revision and item.stage is not Stage.LANDING \
                        and member.id in self.state.holders and not newer(member.change, change):
                    actions += self.queues.remove_change(item, member, ItemResult.DEQUEUED,
                                                         superseded(change))
        return actions

    def admit(self, pipeline: Pipeline, event: TriggerEvent) -> list[Action]:
        """Enqueue the change if it may be, with what it needs ahead of it or
        in its item (needs.py); else a not-enqueued result that says why."""
        change = event.change
        found = self.queues.find_same(pipeline.name, change)
        if found is not None and found[1].change.revision == change.revision:
            return []
        connection = self.layout.projects[change.project].connection
        reason = requirements.on_arrival(pipeline, connection, event.review)
        plan = None
        if reason is None:
            plan = needs.plan(self.layout, pipeline, change, event.connection, event.needed,
                              self.queued_in(pipeline.name))
            reason = plan.refused
        if reason is not None:
            return [self.not_enqueued(pipeline.name, change, reason)]
        actions: list[Action] = []
        for group in plan.groups:
            actions += self.enqueue(pipeline.name, group[0]) if len(group) == 1 \
                else self.enqueue_group(pipeline.name, group)
        return actions

    def queued_in(self, pipeline: str) -> needs.QueuedIn:
        def queue(key: ChangeKey, revision: str) -> str | None:
            return next((item.queue for item, m in self.queues.lookup.keyed(pipeline, key)
                         if m.change.revision == revision), None)
        return queue

    def not_enqueued(self, pipeline: str, change: Change, reason: str) -> Report:
        """A result for a change refused on arrival, under an id of its own."""
        item_id = self.state.next_item
        self.state.next_item += 1
        now = self.state.now
        return Report(ResultRecord(item_id, pipeline, change.project, change.ref, change.branch,
                                   change.revision, ItemResult.NOT_ENQUEUED, None, reason, (), now, now))

    def enqueue(self, pipeline: str, change: Change) -> list[Action]:
        """Add the change to the pipeline; a new revision replaces the old item."""
        actions: list[Action] = []
        found = self.queues.find_same(pipeline, change)
        if found is not None:
            old, member = found
            if member.change.revision == change.revision or old.stage is Stage.LANDING \
                    or newer(member.change, change):
                return actions
            actions = self.queues.remove_change(old, member, ItemResult.DEQUEUED, superseded(change))
        return actions + self.queues.add(pipeline, change)

    def enqueue_group(self, pipeline: str, changes: tuple[Change, ...]) -> list[Action]:
        """Add changes as one item (a cycle, or a change with what it needs in
        an independent pipeline); older revisions of them leave first."""
        live = changes if self.layout.pipelines[pipeline].dependent else changes[:1]
        older = [(c, f) for c in live if (f := self.queues.find_same(pipeline, c)) is not None]
        if any(item.stage is Stage.LANDING for _, (item, _) in older):
            return []                   # as for one change: the landing decides first
        actions: list[Action] = []
        for change, (item, member) in older:
            if member.id in self.state.holders:     # not gone with an earlier one
                actions += self.queues.remove_change(self.state.holders[member.id], member,
                                                     ItemResult.DEQUEUED, superseded(change))
        return actions + self.queues.add_item(pipeline, changes)


def newer(queued: Change, arriving: Change) -> bool:
    """The queued change is a later patch set than the one arriving (an old event)."""
    return queued.patchset is not None and arriving.patchset is not None and queued.patchset > arriving.patchset


def superseded(change: Change) -> str:
    if change.patchset is not None:
        return f"superseded by patch set {change.patchset}"
    return f"superseded by new revision {change.revision[:12]}"
