"""Issue 10's records survive the journal and checkpoints: every new event
and its nested records round-trip through the codec, older journal rows
decode with the defaults, a git driver's rows are written as before, and
a checkpoint taken at any step of a review scenario resumes the same
decisions."""
from __future__ import annotations

import json

import pytest

from gateq.core import actions as act
from gateq.core import checkpoint, codec
from gateq.core import events as ev
from gateq.core.scheduler import Scheduler
from gateq.core.types import Change, ChangeKey, NeededChange, NeedStatus, ReviewState

from test_core_equivalence import check_books, plain
from test_core_review import CR2, W1, ReviewWorld, gerrit_change, review_layout

A = gerrit_change("nova", 10, 3, needs=[("glance", 20)])
OPEN = ReviewState(True, False, True, (CR2, W1))


@pytest.mark.parametrize("event", [
    ev.TriggerEvent(1.0, "review", "comment-added", A, (W1,), "recheck please", OPEN, (
        NeededChange(ChangeKey("review", "glance", "20"), NeedStatus.OPEN,
                     gerrit_change("glance", 20, needs=[("nova", 10)]), ReviewState(True, True, False, ())),
        NeededChange(ChangeKey("review", "swift", "30"), NeedStatus.MERGED),
        NeededChange(ChangeKey("git", "rdo", "refs/heads/fix"), NeedStatus.ABANDONED),
        NeededChange(ChangeKey("other", "", "40"), NeedStatus.UNKNOWN, reason="no connection other"))),
    ev.TriggerEvent(2.0, "review", "change-abandoned", A, review=ReviewState(False, False, True)),
    ev.ChangeChecked(3.0, 4, 1, OPEN, None, A.ref),
    ev.ChangeChecked(3.0, 4, 1, None, "review.example.org: timed out"),
    ev.ChangeChecked(3.0, 4, 1, None),
    ev.EnqueueRequested(4.0, "gate", A),
])
def test_review_events_survive_the_journal(event):
    assert codec.decode(codec.encode(event)) == event


def test_a_needed_changes_status_is_taken_by_value():
    key = ChangeKey("review", "nova", "10")
    assert NeededChange(key, "merged") == NeededChange(key, NeedStatus.MERGED)
    with pytest.raises(ValueError):
        NeededChange(key, "lost")


def test_a_git_trigger_is_written_as_before_and_an_old_row_reads_with_the_defaults():
    change = Change("nova", "fix", "main", "abc", frozenset({"abc"}))
    row = json.loads(codec.encode(ev.TriggerEvent(1.0, "git", "approved", change)))
    assert row == {"type": "TriggerEvent", "at": 1.0, "connection": "git", "kind": "approved",
                   "change": {"project": "nova", "ref": "fix", "branch": "main", "revision": "abc",
                              "commits": ["abc"]}}
    decoded = codec.decode(json.dumps(row))
    assert (decoded.approvals, decoded.comment, decoded.review, decoded.needed) == ((), None, None, ())
    assert (decoded.change.number, decoded.change.patchset, decoded.change.url, decoded.change.needs) == \
        (None, None, None, ())


def scenario() -> ReviewWorld:
    """Depends-On, a cycle, a check that could not be made, a held check, an
    independent item with what it needs, a refusal and an abandon."""
    w = ReviewWorld(review_layout(circular=True))
    a = gerrit_change("nova", 10, needs=[("glance", 20)])
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    c = gerrit_change("nova", 11)
    d = gerrit_change("glance", 21, needs=[("nova", 11)])
    w.state(20, CR2)
    w.state(11, CR2)
    w.upload(d, needed=w.needed(c))
    w.approve_change(a, needed=w.needed(b))
    w.approve_change(d, needed=w.needed(c))
    w.state(30, W1)
    w.comment(gerrit_change("nova", 30), W1)
    w.hold_checks = True
    w.finish(a.ref)
    w.answer(reason="timed out")
    w.answer()
    w.finish_in("gate", c.ref)
    w.abandon(d)
    w.answer()
    return w


def test_the_scenario_does_what_it_says():
    w = scenario()
    results = {(r["pipeline"], r["change"], r["result"]) for r in w.results}
    assert {("gate", "refs/changes/10/10/1", "merged"), ("gate", "refs/changes/20/20/1", "merged"),
            ("gate", "refs/changes/11/11/1", "merged"), ("gate", "refs/changes/21/21/1", "dequeued"),
            ("gate", "refs/changes/30/30/1", "not-enqueued"),
            ("check", "refs/changes/21/21/1", "dequeued")} <= results


def test_replay_through_the_codec_decides_the_same():
    events = scenario().fed
    straight, replayed = Scheduler(review_layout(circular=True), 100), Scheduler(review_layout(circular=True), 100)
    for event in events:
        assert plain(replayed.step(codec.decode(codec.encode(event)))) == plain(straight.step(event))
    assert checkpoint.save(replayed.state) == checkpoint.save(straight.state)


def test_a_checkpoint_at_any_step_of_a_review_scenario_resumes_the_same_decisions():
    events = scenario().fed
    lay = review_layout(circular=True)
    for cut in range(len(events)):
        straight = Scheduler(lay, 100)
        for event in events[:cut]:
            straight.step(event)
        data = json.loads(json.dumps(checkpoint.save(straight.state)))
        assert checkpoint.save(checkpoint.load(data)) == data
        restored = Scheduler(lay, 100, checkpoint.load(data))
        check_books(restored)
        for n, event in enumerate(events[cut:]):
            assert plain(restored.step(event)) == plain(straight.step(event)), f"cut {cut}, step {n}"
        assert checkpoint.save(restored.state) == checkpoint.save(straight.state)


def test_a_check_awaited_at_a_restart_is_asked_again_and_an_answered_one_is_kept():
    w = ReviewWorld(review_layout(circular=True))
    a = gerrit_change("nova", 10, needs=[("glance", 20)])
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.state(20, CR2)
    w.approve_change(a, needed=w.needed(b))
    w.hold_checks = True
    w.finish(a.ref)
    first, _ = w.checks
    w.checks = [first]
    w.answer()                           # a is answered; b's answer never came
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    [item] = data["pipelines"][0]["queues"][0]["items"]
    assert [(c["change"], c["met"]) for c in item["checks"]] == [(a.name, True), (b.name, None)]
    restored = Scheduler(w.scheduler.layout, 100, checkpoint.load(data))
    asked = [x for x in restored.resume() if isinstance(x, act.CheckChange)]
    assert [x.change.ref for x in asked] == [b.ref]


def test_a_malformed_check_in_a_checkpoint_is_one_clear_error():
    w = ReviewWorld()
    w.approve_change(gerrit_change("nova", 10))
    w.hold_checks = True
    w.finish(gerrit_change("nova", 10).ref)
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    data["pipelines"][0]["queues"][0]["items"][0]["checks"][0]["met"] = "yes"
    with pytest.raises(ValueError, match=r"checkpoint: pipelines\[0\].queues\[0\].items\[0\].checks\[0\].met: "
                                         r"'yes' is not true, false or null"):
        checkpoint.load(data)


def test_a_git_gates_checkpoint_is_written_as_before_and_reads_with_the_defaults():
    from scheduler_world import World
    w = World()
    w.approve("a")
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    [item] = data["pipelines"][0]["queues"][0]["items"]
    assert "checks" not in item
    assert set(item["change"]) == {"project", "ref", "branch", "revision", "commits"}
    [loaded] = checkpoint.load(data).index.values()
    assert loaded.checks == {} and (loaded.change.number, loaded.change.needs) == (None, ())


def test_a_review_change_keeps_its_number_patch_set_page_and_needs_in_a_checkpoint():
    w = ReviewWorld()
    w.state(20, CR2)
    w.approve_change(A, needed=w.needed(gerrit_change("glance", 20)))
    state = checkpoint.load(json.loads(json.dumps(checkpoint.save(w.scheduler.state))))
    assert {i.change for i in state.index.values()} == {A, gerrit_change("glance", 20)}
