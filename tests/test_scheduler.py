"""Queue semantics of the pure scheduler, as scenarios (no git, no processes)."""
from gateq.config.model import Window
from gateq.core.scheduler import Scheduler
from gateq.core import events as ev
from gateq.core.types import Change, JobResult, MergeFailure

from scheduler_world import World, layout


def test_parallel_changes_land_in_queue_order_even_when_finishing_backwards():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    assert w.running_chains() == {"a": ("a",), "b": ("a", "b"), "c": ("a", "b", "c")}
    w.finish("c")
    w.finish("b")
    assert w.landed == []
    w.finish("a")
    assert w.landed == ["a", "b", "c"]
    assert [r["result"] for r in w.results] == ["merged"] * 3


def test_failure_in_the_middle_resets_items_behind_without_it():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.fail("b")
    assert w.running_chains() == {"a": ("a",), "c": ("a", "c")}
    assert w.queue_refs() == ["a", "b", "c"]          # b waits for a before reporting
    w.finish("a")
    assert w.result_of("b")["result"] == "failed"
    assert w.result_of("b")["reason"] == "job unit failure"
    w.finish("c")
    assert w.landed == ["a", "c"]


def test_failure_at_head_is_reported_at_once_and_the_rest_restarts_on_the_tip():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.fail("a")
    assert w.results[0]["change"] == "a" and w.results[0]["result"] == "failed"
    assert w.running_chains() == {"b": ("b",), "c": ("b", "c")}
    w.finish("b")
    w.finish("c")
    assert w.landed == ["b", "c"]


def test_failing_item_is_retested_when_an_item_ahead_fails_too():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.fail("b")                     # c now runs on a
    w.fail("a")                     # b must be re-tested without a; c on b again
    assert w.running_chains() == {"b": ("b",), "c": ("b", "c")}
    w.finish("b")
    w.finish("c")
    assert w.landed == ["b", "c"]
    assert [r["change"] for r in w.results if r["result"] == "failed"] == ["a"]


def test_each_item_restarts_exactly_once_per_failure_ahead():
    w = World()
    for ref in ("a", "b", "c", "d"):
        w.approve(ref)
    before = len(w.started)
    w.fail("b")
    restarted = [s.change.ref for s in w.started[before:]]
    assert sorted(restarted) == ["c", "d"]


def test_merge_conflict_runs_no_jobs_is_skipped_and_is_ejected_once_at_the_head():
    w = World()
    w.conflicts.add(("a", "b"))
    for ref in ("a", "b", "c"):
        w.approve(ref)
    assert w.running_chains() == {"a": ("a",), "c": ("a", "c")}
    assert w.results == []                          # failing, not final: a may still fail
    assert w.item("b")["failing"] == "conflict with a"
    w.finish("a")
    b = w.result_of("b")
    assert (b["result"], b["reason"]) == ("merge-conflict", "conflict with a")
    assert [(j["name"], j["result"], j["build"]) for j in b["jobs"]] == [("unit", "skipped", None)]
    w.finish("c")
    assert w.landed == ["a", "c"]


def test_a_change_that_conflicts_only_with_a_bad_change_lands():
    w = World()
    w.conflicts.add(("a", "b"))
    w.approve("a")
    w.approve("b")
    assert w.running_chains() == {"a": ("a",)}
    w.fail("a")
    assert w.result_of("a")["result"] == "failed"
    assert w.running_chains() == {"b": ("b",)}      # re-merged on the branch without a
    w.finish("b")
    assert w.landed == ["b"]


def test_a_conflict_with_a_failing_item_in_the_middle_is_retried_without_it():
    w = World()
    w.conflicts.add(("b", "c"))
    for ref in ("a", "b", "c", "d"):
        w.approve(ref)
    assert w.running_chains() == {"a": ("a",), "b": ("a", "b"), "d": ("a", "b", "d")}
    w.fail("b")
    assert w.running_chains() == {"a": ("a",), "c": ("a", "c"), "d": ("a", "c", "d")}
    w.finish("a")
    w.finish("c")
    w.finish("d")
    assert w.landed == ["a", "c", "d"]
    assert {r["change"]: r["result"] for r in w.results} == {
        "a": "merged", "b": "failed", "c": "merged", "d": "merged"}


def test_a_conflict_against_the_branch_itself_is_ejected_at_once():
    w = World()
    w.conflicts.add(("tip", "a"))                   # a conflicts with the branch as it is
    w.approve("a")
    assert w.result_of("a")["result"] == "merge-conflict"
    w.approve("b")
    w.finish("b")
    assert w.landed == ["b"]


def test_a_change_needing_a_conflicting_change_is_dequeued_when_that_one_is_ejected():
    w = World()
    w.conflicts.add(("a", "b"))
    w.approve("a")
    w.approve("b")
    w.approve("c", commits=("rev-b",))
    assert w.item("c")["failing"] == "needed change nova:b is failing: conflict with a"
    w.finish("a")
    assert w.result_of("b")["result"] == "merge-conflict"
    c = w.result_of("c")
    assert (c["result"], c["reason"]) == ("dequeued", "depends on nova:b which was ejected as a merge conflict")


def test_dependent_change_is_dequeued_when_its_parent_fails():
    w = World()
    w.approve("a")
    w.approve("b", commits=("rev-a",))
    w.approve("c")
    w.fail("a")
    b = w.result_of("b")
    assert b["result"] == "dequeued"
    assert b["reason"].startswith("depends on nova:a which failed")
    assert w.running_chains() == {"c": ("c",)}


def test_window_shrinks_on_failure_and_grows_on_landing():
    w = World(layout(window=Window(initial=4, floor=1, decrease_factor=2)))
    for ref in "abcdef":
        w.approve(ref)
    assert sorted(w.running_chains()) == ["a", "b", "c", "d"]
    w.fail("a")
    queue = w.scheduler.state.pipelines["gate"].queues["shared"]
    assert queue.window == 2
    assert sorted(w.running_chains()) == ["b", "c"]
    w.finish("b")
    assert queue.window == 3
    assert sorted(w.running_chains()) == ["c", "d", "e"]


def test_non_voting_failure_does_not_fail_the_item():
    w = World(layout(jobs=("unit", "lint"), voting={"lint": False}))
    w.approve("a")
    w.fail("a", "lint")
    w.finish("a", "unit")
    assert w.landed == ["a"]
    jobs = {j["name"]: j["result"] for j in w.result_of("a")["jobs"]}
    assert jobs == {"unit": "success", "lint": "failure"}


def test_job_dependencies_run_in_order_and_skip_after_failure():
    w = World(layout(jobs=("build", "unit"), deps={"unit": ("build",)}))
    w.approve("a")
    assert [b.job for b in w.running.values()] == ["build"]
    w.finish("a", "build")
    assert [b.job for b in w.running.values()] == ["unit"]
    w.approve("b")
    w.fail("b", "build")
    jobs = {j["name"]: j["result"] for j in w.result_of("b")["jobs"]} if any(
        r["change"] == "b" for r in w.results) else None
    assert jobs is None               # b waits behind a before reporting
    w.finish("a", "unit")
    assert {j["name"]: j["result"] for j in w.result_of("b")["jobs"]} == {
        "build": "failure", "unit": "skipped"}


def test_dequeue_and_promote_reset_what_must_be_reset():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.feed(ev.PromoteRequested(w.tick(), "gate", "nova", "c"))
    assert w.queue_refs() == ["c", "a", "b"]
    assert w.running_chains() == {"c": ("c",), "a": ("c", "a"), "b": ("c", "a", "b")}
    w.feed(ev.DequeueRequested(w.tick(), "gate", "nova", "a"))
    assert w.result_of("a")["result"] == "dequeued"
    assert w.running_chains() == {"c": ("c",), "b": ("c", "b")}


def test_branch_moved_outside_rebuilds_the_queue_on_the_new_tip():
    w = World()
    w.approve("a")
    w.approve("b")
    w.tips[("nova", "main")] = "tip+outside"
    w.finish("b")
    w.finish("a")
    assert w.landed == []
    assert w.running_chains() == {"a": ("a",), "b": ("a", "b")}
    w.finish("a")
    w.finish("b")
    assert w.landed == ["a", "b"]
    assert w.tips[("nova", "main")] == "tip+outside+a+b"


def test_shared_queue_spans_projects():
    w = World()
    w.approve("a", project="nova")
    w.approve("b", project="ceilometer")
    build_b = next(b for b in w.running.values() if b.change.ref == "b")
    state = {(p, br): c for p, br, c in build_b.state}
    assert state == {("nova", "main"): "tip+a", ("ceilometer", "main"): "tip+b"}


def test_new_revision_replaces_the_old_item():
    w = World()
    w.approve("a")
    w.approve("b")
    from gateq.core.types import Change
    change = Change("nova", "a", "main", "rev-a2", frozenset({"rev-a2"}))
    w.feed(ev.TriggerEvent(w.tick(), "git", "approved", change))
    assert w.result_of("a")["reason"] == "superseded by new revision rev-a2"
    assert w.running_chains() == {"b": ("b",), "a": ("b", "a")}


def test_independent_pipeline_tests_each_change_alone_and_only_reports():
    w = World()
    for ref in ("a", "b"):
        change_event = ev.TriggerEvent(w.tick(), "git", "proposed",
                                       __import__("gateq.core.types", fromlist=["Change"]).Change(
                                           "nova", ref, "main", f"rev-{ref}", frozenset()))
        w.feed(change_event)
    assert w.running_chains() == {"a": ("a",), "b": ("b",)}
    w.fail("b")
    w.finish("a")
    assert {r["change"]: r["result"] for r in w.results} == {"b": "failed", "a": "succeeded"}
    assert w.landed == []


def test_slots_limit_running_builds_and_the_gate_goes_first():
    w = World(slots=2)
    for ref in ("a", "b", "c"):
        w.approve(ref)
    assert sorted(w.running_chains()) == ["a", "b"]
    w.finish("a")
    assert sorted(w.running_chains()) == ["b", "c"]


def test_replaying_the_same_events_gives_the_same_decisions():
    w = World()
    events = []
    original_feed = w.feed

    def recording_feed(event):
        events.append(event)
        original_feed(event)
    w.feed = recording_feed
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.fail("b")
    w.finish("a")
    replay = Scheduler(layout(), 100)
    for event in events:
        replay.step(event)
    from gateq.core.snapshot import snapshot
    assert snapshot(replay) == snapshot(w.scheduler)
    assert JobResult.FAILURE.value == "failure"


def export_layout():
    return layout(jobs=("rpm-build", "install-check"), deps={"install-check": ("rpm-build",)},
                  export={"rpm-build": "rdo"}, requires={"install-check": ("rdo",)})


def test_a_job_requiring_a_repository_waits_for_the_exports_ahead_and_sees_them():
    w = World(export_layout())
    w.approve("a")
    w.approve("b")
    w.finish("b", "rpm-build")
    assert sorted(b.job for b in w.running.values() if b.change.ref == "b") == []
    w.finish("a", "rpm-build")
    check_b = next(b for b in w.running.values() if b.change.ref == "b")
    assert check_b.job == "install-check"
    assert [build for _, build in check_b.artifacts] == ["1-0-rpm-build", "2-0-rpm-build"]


def test_landing_publishes_the_items_exports_and_reports_the_snapshot():
    w = World(export_layout())
    w.approve("a")
    w.finish("a", "rpm-build")
    w.finish("a", "install-check")
    assert w.lands[0].publish == (("rdo", ("1-0-rpm-build",)),)
    assert w.result_of("a")["result"] == "merged"


def test_when_an_item_ahead_resets_its_artifacts_vanish_from_the_views_behind():
    w = World(export_layout())
    w.approve("a")
    w.approve("b")
    w.finish("a", "rpm-build")
    w.finish("b", "rpm-build")
    w.fail("a", "install-check")
    check_b = next(b for b in w.running.values() if b.change.ref == "b")
    assert check_b.job == "rpm-build"                  # b restarted without a
    w.finish("b", "rpm-build")
    check_b = next(b for b in w.running.values() if b.change.ref == "b")
    assert [build for _, build in check_b.artifacts] == ["2-1-rpm-build"]


# -- a merge that cannot happen is not a conflict ------------------------------------

def test_a_change_whose_commit_vanished_is_ejected_at_once_wherever_it_is():
    w = World()
    w.missing["b"] = MergeFailure.CHANGE_MISSING
    for ref in ("a", "b", "c"):
        w.approve(ref)
    b = w.result_of("b")                        # a is still running: b is not at the head
    assert (b["result"], b["reason"]) == ("change-missing", "b: change-missing")
    assert w.running_chains() == {"a": ("a",), "c": ("a", "c")}
    assert w.scheduler.state.pipelines["gate"].queues["shared"].window == 20   # not a failure
    w.finish("a")
    w.finish("c")
    assert w.landed == ["a", "c"]


def test_a_change_whose_branch_was_deleted_is_ejected_at_once_and_its_dependents_follow():
    w = World()
    w.approve("a")
    w.missing["b"] = MergeFailure.BRANCH_MISSING
    w.hold_merges = True
    w.approve("b")
    w.approve("c", commits=("rev-b",))          # c needs b, whose merge is not answered yet
    w.release_merges()
    assert w.result_of("b")["result"] == "branch-missing"
    c = w.result_of("c")
    assert (c["result"], c["reason"]) == ("dequeued", "depends on nova:b which was ejected: its branch is missing")
    assert w.running_chains() == {"a": ("a",)}


def test_in_an_independent_pipeline_a_missing_change_is_reported_as_missing():
    w = World()
    w.missing["a"] = MergeFailure.CHANGE_MISSING
    w.feed(ev.TriggerEvent(w.tick(), "git", "proposed", Change("nova", "a", "main", "rev-a")))
    assert w.result_of("a")["result"] == "change-missing"


# -- pipeline settings: fail_fast, merge_in_window_only ----------------------------------

def test_fail_fast_off_keeps_a_failing_items_builds_running_until_it_leaves():
    w = World(layout(jobs=("unit", "lint", "docs"), deps={"docs": ("lint",)}, fail_fast=False))
    for ref in ("a", "b"):
        w.approve(ref)
    w.fail("b", "unit")                          # b fails; its other builds go on
    assert w.item("b")["failing"] == "job unit failure"
    assert {(r.change.ref, r.job) for r in w.running.values()} >= {("b", "lint")}   # not cancelled
    w.finish("b", "lint")
    assert ("b", "docs") in {(r.change.ref, r.job) for r in w.running.values()}   # and it goes on
    for job in ("unit", "lint"):
        w.finish("a", job)
    w.finish("a", "docs")
    assert w.landed == ["a"]
    assert w.results[-1]["change"] == "a"        # b, now the head, waits for its last build
    w.finish("b", "docs")
    b = w.result_of("b")
    assert (b["result"], b["reason"]) == ("failed", "job unit failure")
    assert {j["name"]: j["result"] for j in b["jobs"]} == {"unit": "failure", "lint": "success", "docs": "success"}


def test_fail_fast_on_cancels_a_failing_items_builds_at_once():
    w = World(layout(jobs=("unit", "lint")))
    w.approve("a")
    w.approve("b")
    w.fail("b", "unit")
    assert [r.change.ref for r in w.running.values()] == ["a", "a"]
    w.finish("a", "unit")
    w.finish("a", "lint")
    assert {j["name"]: j["result"] for j in w.result_of("b")["jobs"]} == {"unit": "failure", "lint": "cancelled"}


def test_fail_fast_off_still_rebuilds_the_items_behind_at_once():
    w = World(layout(fail_fast=False))
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.fail("b")
    assert w.running_chains() == {"a": ("a",), "c": ("a", "c")}


def test_merge_in_window_only_merges_an_item_once_it_is_inside_the_window():
    w = World(layout(window=Window(initial=2, floor=1), merge_in_window_only=True))
    for ref in ("a", "b", "c", "d"):
        w.approve(ref)
    assert w.merged == ["a", "b"]
    assert w.item("c")["merge"] == "pending"
    w.finish("a")                                # lands; the window grows to 3
    assert w.merged == ["a", "b", "c", "d"]
    assert w.running_chains() == {"b": ("a", "b"), "c": ("b", "c"), "d": ("b", "c", "d")}


def test_by_default_every_item_is_merged_as_soon_as_the_one_ahead_is():
    w = World(layout(window=Window(initial=2, floor=1)))
    for ref in ("a", "b", "c", "d"):
        w.approve(ref)
    assert w.merged == ["a", "b", "c", "d"]
    assert sorted(w.running_chains()) == ["a", "b"]
