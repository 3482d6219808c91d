"""Issue 10, the core: what a change needs (Depends-On, relation chains,
cycles) decides whether and how it is enqueued, in scenarios on the real
Scheduler (ReviewWorld, from test_core_review.py)."""
from __future__ import annotations

from test_core_review import CR1, CR2, ReviewWorld, gerrit_change, review_layout


def gate_refs(w: ReviewWorld) -> list[str]:
    return w.queue_refs("gate")


def test_depends_on_across_two_projects_enqueues_the_needed_change_ahead_and_lands_both_in_order():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.state(10, CR2)                     # reviewed, not approved: it meets the requirements
    w.approve_change(b, needed=w.needed(a))
    assert gate_refs(w) == [a.ref, b.ref]
    assert [[c.ref for c in s.changes] for s in w.starts] == [[a.ref], [b.ref]]
    assert w.item(b.ref)["based_on"] == a.name
    w.finish(b.ref)
    assert w.landed == []                # b waits for a, which it needs
    w.finish(a.ref)
    assert w.landed == [a.ref, b.ref]


def test_a_needed_change_failing_takes_the_change_that_needs_it_out():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.state(10, CR2)
    w.approve_change(b, needed=w.needed(a))
    w.fail(a.ref)
    assert w.results_of(a)[0]["result"] == "failed"
    assert w.results_of(b)[0]["reason"] == f"depends on {a.name} which failed"


def test_a_needed_change_already_queued_ahead_is_not_enqueued_again():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.approve_change(a)
    w.approve_change(b, needed=w.needed(a))
    assert gate_refs(w) == [a.ref, b.ref]
    assert len(w.starts) == 2


def test_a_merged_needed_change_is_needed_no_more():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.approve_change(b, needed=w.needed(a, status={10: "merged"}))
    assert gate_refs(w) == [b.ref]


def test_a_needed_change_abandoned_refuses_the_change_with_the_reason():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.approve_change(b, needed=w.needed(a, status={10: "abandoned"}))
    assert gate_refs(w) == []
    [result] = w.results_of(b)
    assert (result["result"], result["reason"]) == ("not-enqueued", "needs nova change 10, which is abandoned")


def test_a_needed_change_that_does_not_meet_the_requirements_refuses_the_change():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.state(10, CR1)
    w.approve_change(b, needed=w.needed(a))
    assert gate_refs(w) == []
    assert w.results_of(b)[0]["reason"] == (f"needs {a.name}, which does not meet the requirements: "
                                            "needs Code-Review+2 (has Code-Review+1)")


def test_a_needed_change_unknown_or_not_told_refuses_the_change():
    from gateq.core.types import ChangeKey, NeededChange
    w = ReviewWorld()
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    unknown = NeededChange(ChangeKey("review", "nova", "10"), "unknown", reason="review: connection refused")
    w.approve_change(b, needed=(unknown,))
    assert w.results_of(b)[-1]["reason"] == "needs nova change 10, which is unknown: review: connection refused"
    w.approve_change(b, needed=())
    assert w.results_of(b)[-1]["reason"] == "needs nova change 10, which could not be looked up"
    assert gate_refs(w) == []


def test_a_needed_change_in_another_queue_refuses_the_change():
    w = ReviewWorld(review_layout(other_queue=("swift",)))
    a = gerrit_change("swift", 10)
    b = gerrit_change("glance", 20, needs=[("swift", 10)])
    w.state(10, CR2)
    w.approve_change(b, needed=w.needed(a))
    assert gate_refs(w) == []
    assert w.results_of(b)[0]["reason"] == f"needs {a.name}, which is in another queue (swift)"


def test_a_relation_chain_enqueues_the_parent_ahead_transitively():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("nova", 11, parents=[a])
    c = gerrit_change("glance", 20, needs=[("nova", 11)])
    w.state(10, CR2)
    w.state(11, CR2)
    w.approve_change(c, needed=w.needed(a, b))
    assert gate_refs(w) == [a.ref, b.ref, c.ref]
    queue = w.scheduler.state.pipelines["gate"].queues["integrated"]
    ids = {i.change.ref: i.members[0] for i in queue.items}
    assert ids[b.ref].depends_on == (ids[a.ref].id,) and ids[c.ref].depends_on == (ids[b.ref].id,)
    for change in (c, b, a):
        w.finish(change.ref)
    assert w.landed == [a.ref, b.ref, c.ref]


def cycle(w: ReviewWorld):
    a = gerrit_change("nova", 10, needs=[("glance", 20)])
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.state(20, CR2)
    w.approve_change(a, needed=w.needed(b))
    return a, b


def test_a_cycle_where_the_queue_allows_it_is_one_item_tested_and_landed_together():
    w = ReviewWorld(review_layout(circular=True))
    a, b = cycle(w)
    [item] = w.scheduler.state.pipelines["gate"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [a.ref, b.ref]
    assert [[c.ref for c in s.changes] for s in w.starts] == [[a.ref, b.ref]]
    [build] = w.running.values()
    assert [c.ref for c in build.more] == [b.ref]
    w.finish(a.ref)
    assert sorted(c.change.ref for c in w.asked) == sorted([a.ref, b.ref])   # both checked
    [land] = w.lands
    assert [c.ref for c in land.changes] == [a.ref, b.ref]
    assert {(m.project, m.branch) for m in land.moves} == {("nova", "main"), ("glance", "main")}
    assert [r["result"] for r in w.results] == ["merged", "merged"]


def test_a_failing_cycle_is_not_split_it_fails_whole():
    w = ReviewWorld(review_layout(circular=True))
    a, b = cycle(w)
    w.fail(a.ref)
    assert sorted((r["change"], r["result"]) for r in w.results) == [(a.ref, "failed"), (b.ref, "failed")]
    assert gate_refs(w) == []


def test_a_cycle_member_abandoned_takes_the_cycle_out():
    w = ReviewWorld(review_layout(circular=True))
    a, b = cycle(w)
    w.abandon(b)
    assert gate_refs(w) == []
    assert w.results_of(a)[0]["reason"] == f"depends on {b.name} which was dequeued"


def test_a_cycle_where_the_queue_does_not_allow_it_is_refused_with_the_reason():
    w = ReviewWorld()
    a, b = cycle(w)
    assert gate_refs(w) == []
    assert w.results_of(a)[0]["reason"] == (
        f"is part of a dependency cycle ({a.name}, {b.name}) and queue integrated does not allow them")


def test_needing_a_cycle_where_the_queue_does_not_allow_it_is_refused():
    w = ReviewWorld()
    a = gerrit_change("nova", 10, needs=[("glance", 20)])
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    c = gerrit_change("nova", 30, needs=[("nova", 10)])
    w.state(10, CR2)
    w.state(20, CR2)
    w.approve_change(c, needed=w.needed(a, b))
    assert w.results_of(c)[0]["reason"].startswith("needs changes that form a dependency cycle")


def test_an_independent_pipeline_tests_a_change_with_every_change_it_needs():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.upload(b, needed=w.needed(a))
    [item] = w.scheduler.state.pipelines["check"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [b.ref, a.ref]
    [merge] = [m for m in w.merges if m.item == item.id]
    assert [c.ref for c, _ in merge.steps] == [b.ref, a.ref]
    [build] = w.running.values()
    assert build.change == b and [c.ref for c in build.more] == [a.ref]
    assert item.jobs == ("unit",)
    w.upload(a)                          # the needed change is tested on its own too
    assert w.queue_refs("check") == [b.ref, a.ref, a.ref]
    w.finish(b.ref)
    [result] = w.results
    assert (result["change"], result["result"], result["batch"]) == (b.ref, "succeeded", [a.name])


def test_an_independent_pipeline_leaves_out_a_parent_its_commits_hold():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("nova", 11, parents=[a])
    w.upload(b, needed=w.needed(a))
    [item] = w.scheduler.state.pipelines["check"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [b.ref]


def test_an_independent_item_with_what_it_needs_leaves_whole_on_a_new_patch_set():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b1, b2 = gerrit_change("glance", 20, 1, needs=[("nova", 10)]), gerrit_change("glance", 20, 2, needs=[("nova", 10)])
    w.upload(b1, needed=w.needed(a))
    w.upload(b2, needed=w.needed(a))
    [item] = w.scheduler.state.pipelines["check"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [b2.ref, a.ref]
    assert [(r["change"], r["reason"]) for r in w.results] == [(b1.ref, "superseded by patch set 2")]


def test_an_independent_pipeline_takes_what_a_change_needs_from_any_queue_but_not_from_no_layout():
    from dataclasses import replace
    from gateq.core.relayout import prune
    lay = review_layout(other_queue=("swift",))
    swift = replace(lay.projects["swift"], pipelines={"gate": ("unit",)})     # swift runs no check
    w = ReviewWorld(replace(lay, projects={**lay.projects, "swift": swift}))
    a = gerrit_change("swift", 10)
    b = gerrit_change("glance", 20, needs=[("swift", 10)])
    w.upload(b, needed=w.needed(a))
    [item] = w.scheduler.state.pipelines["check"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [b.ref, a.ref]
    assert prune(w.scheduler.state, w.scheduler.layout) == []      # kept at a restart
    c = gerrit_change("glance", 21, needs=[("keystone", 5)])
    w.upload(c, needed=w.needed(gerrit_change("keystone", 5)))
    assert w.results_of(c)[0]["reason"] == "needs keystone:refs/changes/05/5/1, whose project keystone is in no layout"


def test_in_an_independent_pipeline_a_change_does_not_hang_on_the_item_of_what_it_needs():
    from gateq.core.types import JobResult
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.upload(a)
    w.upload(b, needed=w.needed(a))
    w.finish_in("check", a.ref, JobResult.FAILURE)
    assert w.results_of(a)[0]["result"] == "failed" and w.results_of(b) == []
    w.finish_in("check", b.ref)
    assert w.results_of(b)[0]["result"] == "succeeded"


def test_a_new_patch_set_of_a_cycle_member_replaces_the_cycle_item():
    w = ReviewWorld(review_layout(circular=True))
    a, b = cycle(w)
    a2 = gerrit_change("nova", 10, 2, needs=[("glance", 20)])
    w.state(10)
    w.upload(a2, needed=w.needed(b))          # the gate's cycle item goes: a's votes are gone
    assert gate_refs(w) == []
    w.approve_change(a2, needed=w.needed(b))
    [item] = w.scheduler.state.pipelines["gate"].queues["integrated"].items
    assert [c.ref for c in item.changes] == [a2.ref, b.ref]
    assert {(r["change"], r["reason"]) for r in w.results if r["pipeline"] == "gate"} == {
        (a.ref, "superseded by patch set 2"), (b.ref, f"depends on {a.name} which was dequeued")}


def test_a_git_change_naming_another_with_depends_on_enqueues_it_ahead_without_requirements():
    from scheduler_world import World
    from gateq.core import events as ev
    from gateq.core.types import Change, ChangeKey, NeededChange
    w = World()
    a = Change("nova", "a", "main", "rev-a", frozenset({"rev-a"}))
    b = Change("ceilometer", "b", "main", "rev-b", frozenset({"rev-b"}),
               needs=(ChangeKey("git", "nova", "refs/heads/a"),))
    needed = (NeededChange(ChangeKey("git", "nova", "refs/heads/a"), "open", a),)
    w.feed(ev.TriggerEvent(w.tick(), "git", "approved", b, needed=needed))
    assert w.queue_refs() == ["a", "b"]
    w.finish("b")
    w.finish("a")
    assert w.landed == ["a", "b"]
