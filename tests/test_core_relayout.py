"""Items a changed layout can no longer run leave their queues, each with why."""
import dataclasses

import pytest

from gateq.core import checkpoint, relayout
from gateq.core import events as ev
from gateq.core.scheduler import Scheduler
from gateq.core.types import Change
from scheduler_world import layout


def queued_state(lay):
    s = Scheduler(lay, slots=10)
    for i, project in enumerate(("nova", "ceilometer")):
        s.step(ev.EnqueueRequested(float(i), "gate", Change(project, f"c{i}", "main", f"r{i}",
                                                            frozenset({f"r{i}"}))))
    return checkpoint.load(checkpoint.save(s.state))


def without(lay, **changes):
    return dataclasses.replace(lay, **changes)


@pytest.mark.parametrize("change, reason", [
    (lambda l: without(l, projects={"nova": l.projects["nova"]}),
     "project ceilometer is no longer in the layout"),
    (lambda l: without(l, projects={**l.projects, "ceilometer": dataclasses.replace(
        l.projects["ceilometer"], pipelines={"check": ("unit",)})}),
     "project ceilometer no longer runs in pipeline gate"),
    (lambda l: without(l, projects={**l.projects, "ceilometer": dataclasses.replace(
        l.projects["ceilometer"], queue="other")}),
     "project ceilometer moved to queue other"),
])
def test_items_the_new_layout_cannot_run_are_dequeued_with_the_reason(change, reason):
    lay = layout()
    state = queued_state(lay)
    records = relayout.prune(state, change(lay))
    assert [(r.change, r.result.value, r.reason) for r in records] == [
        ("c1", "dequeued", f"dequeued when the engine started: {reason}")]
    assert [i.change.ref for i in state.items()] == ["c0"] and list(state.index) == [1]


def test_a_removed_pipeline_or_job_dequeues_every_item_of_it():
    lay = layout()
    assert len(relayout.prune(queued_state(lay), without(lay, pipelines={}))) == 2
    jobs_gone = relayout.prune(queued_state(lay), without(lay, jobs={}))
    assert {r.reason for r in jobs_gone} == {"dequeued when the engine started: job unit is no "
                                             "longer in the layout"}


def test_the_same_layout_prunes_nothing():
    lay = layout()
    state = queued_state(lay)
    assert relayout.prune(state, lay) == [] and len(state.index) == 2
