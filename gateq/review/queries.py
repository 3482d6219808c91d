"""What reconciliation asks a connection: one TriggerQuery per pipeline
trigger entry and event name, with the pipeline's required votes on that
connection added to the trigger's, so a query finds the changes that would
be enqueued (the connection's reconciliation merges identical ones).

A trigger with a `comment` regex names a happening (someone wrote
"recheck"), not a state a query can find: it asks nothing.
"""
from __future__ import annotations

from typing import Callable

from ..config.model import Layout, Pipeline, Trigger
from ..drivers.base import TriggerQuery
from ..drivers.records import ReviewEventKind


def trigger_queries(layout: Layout, connection: str,
                    kind_of: Callable[[str], ReviewEventKind | None]) -> list[TriggerQuery]:
    queries = []
    for pipeline in layout.pipelines.values():
        projects = tuple(sorted(p.name for p in layout.projects.values()
                                if p.connection == connection and pipeline.name in p.pipelines))
        if not projects:
            continue
        for trigger in pipeline.triggers:
            if trigger.connection == connection and trigger.comment is None:
                queries += [query for name in trigger.events
                            if (query := make_query(pipeline, trigger, kind_of(name), projects))]
    return queries


def make_query(pipeline: Pipeline, trigger: Trigger, kind: ReviewEventKind | None,
               projects: tuple[str, ...]) -> TriggerQuery | None:
    if kind is None:
        return None
    required = next((r for r in pipeline.requirements if r.connection == trigger.connection),
                    None)
    approvals = dict(trigger.approvals)
    for label, value in required.approvals if required else ():
        approvals.setdefault(label, value)
    return TriggerQuery(pipeline.name, kind, projects, tuple(approvals.items()), trigger.branch,
                        required.wip if required else None)
