"""A restored state meets the layout it will run under.

The layout may have changed while the engine was stopped: a pipeline,
project or job removed, a project moved to another queue. Items the new
layout cannot run are taken out of their queues before the scheduler sees
them, each with a result saying why, instead of crashing every start. The
same layout always prunes the same items, so replaying the journal after
this stays deterministic.
"""
from __future__ import annotations

from ..config.model import Layout
from .actions import ResultRecord
from .lifecycle import result_record
from .state import Item, State
from .types import ItemResult


def why_not_runnable(item: Item, layout: Layout) -> str | None:
    """Why the layout can no longer run `item`, or None if it can."""
    if item.pipeline not in layout.pipelines:
        return f"pipeline {item.pipeline} is no longer in the layout"
    dependent = layout.pipelines[item.pipeline].dependent
    for n, change in enumerate(item.changes):   # a batch or a cycle: any of them
        project = layout.projects.get(change.project)
        if project is None:
            return f"project {change.project} is no longer in the layout"
        if n and not dependent:         # only what the item's change needs, tested with it
            continue
        if item.pipeline not in project.pipelines:
            return f"project {change.project} no longer runs in pipeline {item.pipeline}"
        if project.queue_name != item.queue:
            return f"project {change.project} moved to queue {project.queue_name}"
    gone = [job for job in item.jobs if job not in layout.jobs]
    if gone:
        return f"job {gone[0]} is no longer in the layout"
    return None


def prune(state: State, layout: Layout) -> list[ResultRecord]:
    """Take out the items `layout` cannot run; one dequeued result for each."""
    records = []
    for pipeline in state.pipelines.values():
        for queue in pipeline.queues.values():
            kept = []
            for item in queue.items:
                reason = why_not_runnable(item, layout)
                if reason is None:
                    kept.append(item)
                    continue
                records += [result_record(item, member, ItemResult.DEQUEUED,
                                          f"dequeued when the engine started: {reason}", None, state.now)
                            for member in item.members]
                state.index.pop(item.id, None)
                for member in item.members:
                    state.holders.pop(member.id, None)
                for build in item.builds.values():
                    state.builds.pop(build.id, None)
            queue.items[:] = kept
    return records
