"""Batches (`batch-size`): several changes tested as one item, landed
together, reported per change, split in halves when they fail."""
import json

import pytest

from gateq.config.model import BatchKind
from gateq.core import actions as act
from gateq.core import checkpoint
from gateq.core.types import ItemResult
from gateq.core.scheduler import Scheduler

from core_drive import RESUME, Drive
from scheduler_world import World, layout
from test_core_equivalence import check_books


def world(batch_size=3, slots=1, **kw) -> World:
    """One slot: while a runs, the changes arriving behind it wait, and batch."""
    return World(layout(batch_size=batch_size, **kw), slots=slots)


def test_changes_arriving_while_the_tail_waits_join_it_and_land_together():
    w = world()
    for ref in "abcde":
        w.approve(ref)
    assert w.queue_refs() == ["a", "b", "c", "d", "e"]
    assert [i["changes"] for i in (w.item("a"), w.item("b"))][1] == [
        {"item": n, "project": "nova", "change": ref, "revision": f"rev-{ref}"}
        for n, ref in ((2, "b"), (3, "c"), (4, "d"))]
    assert w.item("e")["item"] == 5                       # the batch was full
    assert w.running_chains() == {"a": ("a",)}
    w.finish("a")
    assert w.running_chains() == {"b+c+d": ("a", "b", "c", "d")}
    w.finish("c")                                         # one build covers b, c and d
    assert w.landed == ["a", "b", "c", "d"]
    results = {r["change"]: r for r in w.results}
    assert [results[r]["item"] for r in "bcd"] == [2, 3, 4]
    assert {results[r]["result"] for r in "bcd"} == {"merged"}
    assert results["c"]["batch"] == ["nova:b", "nova:d"] and results["a"]["batch"] == []
    assert results["b"]["jobs"] == results["d"]["jobs"]
    assert results["b"]["jobs"][0]["build"] == "2-2-unit"  # merged again as c, then d, joined


def test_with_room_in_the_slots_nothing_waits_and_nothing_is_batched():
    w = world(slots=10)
    for ref in "abc":
        w.approve(ref)
    assert w.running_chains() == {"a": ("a",), "b": ("a", "b"), "c": ("a", "b", "c")}


def test_a_failing_batch_is_split_in_halves_until_the_bad_change_is_alone():
    w = world(batch_size=4)
    for ref in "abcde":
        w.approve(ref)                                    # a, then [b c d e]
    w.finish("a")
    w.fail("b")                                           # d is bad: [b c] and [d e] are tested
    assert w.queue_refs() == ["b", "c", "d", "e"]
    assert w.running_chains() == {"b+c": ("b", "c")}      # one slot: the first half first
    w.finish("b")
    assert w.landed == ["a", "b", "c"]
    assert w.running_chains() == {"d+e": ("b", "c", "d", "e")}   # started before b and c landed
    w.fail("d")
    assert w.running_chains() == {"d": ("d",)}            # [d] and [e]
    w.fail("d")
    assert w.result_of("d")["result"] == "failed" and w.result_of("d")["batch"] == []
    assert w.running_chains() == {"e": ("e",)}
    w.finish("e")
    assert w.landed == ["a", "b", "c", "e"]


def test_split_halves_take_no_new_changes():
    w = world(batch_size=4)
    for ref in "abc":
        w.approve(ref)                                    # a, then [b c]
    w.finish("a")
    w.fail("b")                                           # [b] runs, [c] waits
    w.approve("d")
    assert w.item("d")["changes"] == [{"item": 4, "project": "nova", "change": "d", "revision": "rev-d"}]


def test_a_batch_whose_change_conflicts_is_split_and_the_conflict_ejected_alone():
    w = world()
    w.conflicts.add(("a", "c"))
    for ref in "abcd":
        w.approve(ref)                                    # a, then [b c d]: c conflicts with a
    assert w.queue_refs() == ["a", "b", "c", "d"]
    assert w.running_chains() == {"a": ("a",)}
    assert w.item("c")["changes"] == [{"item": 3, "project": "nova", "change": "c", "revision": "rev-c"}]
    assert w.item("c")["failing"] == "conflict with a"    # [b c] [d], then [b] [c] [d]
    w.finish("a")
    assert w.running_chains() == {"b": ("a", "b")}
    w.finish("b")                                         # c is at the head: its conflict is final
    c = w.result_of("c")
    assert (c["result"], c["reason"], c["batch"]) == ("merge-conflict", "conflict with a", [])
    w.finish("d")
    assert w.landed == ["a", "b", "d"]


def test_dequeueing_a_change_of_a_batch_tests_the_rest_again_without_it():
    from gateq.core import events as ev
    w = world()
    for ref in "abcd":
        w.approve(ref)
    w.feed(ev.DequeueRequested(w.tick(), "gate", "nova", "c"))
    assert w.result_of("c")["result"] == "dequeued"
    assert [c["change"] for c in w.item("b")["changes"]] == ["b", "d"]
    w.finish("a")
    assert w.running_chains() == {"b+d": ("a", "b", "d")}


def test_a_change_needing_a_change_of_its_batch_goes_when_that_one_fails_alone():
    w = world()
    w.approve("a")
    w.approve("b")
    w.approve("c", commits=("rev-b",))                   # c is built on b
    w.finish("a")
    w.fail("b")                                           # [b] and [c]
    w.fail("b")
    assert w.result_of("b")["result"] == "failed"
    c = w.result_of("c")
    assert (c["result"], c["reason"]) == ("dequeued", "depends on nova:b which failed")


def test_a_batch_over_two_projects_moves_both_branches_in_one_landing():
    w = world()
    w.approve("a")
    w.approve("b")
    w.approve("c", project="ceilometer")
    w.finish("a")
    w.finish("b")
    land = w.lands[-1]
    assert [(m.project, m.branch, m.old, m.new) for m in land.moves] == [
        ("nova", "main", "tip+a", "tip+a+b"), ("ceilometer", "main", "tip", "tip+c")]
    assert [c.ref for c in land.changes] == ["b", "c"]
    assert w.tips == {("nova", "main"): "tip+a+b", ("ceilometer", "main"): "tip+c"}


def test_a_batch_in_a_checkpoint_resumes_the_same():
    w = world()
    for ref in "abcd":
        w.approve(ref)
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    batch = data["pipelines"][0]["queues"][0]["items"][1]
    assert (batch["id"], batch["change_id"], [m["id"] for m in batch["more"]]) == (2, 2, [3, 4])
    restored = Scheduler(w.scheduler.layout, 1, checkpoint.load(data))
    assert restored.state.holders[4] is restored.state.index[2]
    assert checkpoint.save(restored.state) == data
    w.scheduler = restored
    w.finish("a")
    assert w.running_chains() == {"b+c+d": ("a", "b", "c", "d")}


# -- random gates ---------------------------------------------------------------

def check_holders(s: Scheduler) -> None:
    """Every queued change is held by its item, and nothing else is."""
    held = {m.id: item for item in s.state.items() for m in item.members}
    assert held == s.state.holders
    assert {item.id: item for item in s.state.items()} == s.state.index
    for item in s.state.items():
        assert item.jobs == s.queues.jobs_of(item.pipeline, item.changes)
        assert len(item.members) <= s.layout.pipelines[item.pipeline].batch_size


@pytest.mark.parametrize("seed", range(120))
def test_random_gates_with_batches_keep_their_books(seed):
    drive = Drive(seed, steps=200, newer=True)
    s = Scheduler(drive.layout, drive.slots)
    for event in drive.events():
        if event == RESUME:
            drive.restart()
            actions = s.resume()
        else:
            actions = s.step(event)
        check_books(s)
        check_holders(s)
        for report in (a.record for a in actions if isinstance(a, act.Report)):
            if report.result in (ItemResult.FAILED, ItemResult.MERGE_CONFLICT):
                assert report.batch == (), f"seed {seed}: {report.change} {report.result.value} in a batch"
        drive.handle(actions)


def test_a_series_batch_takes_only_the_changes_that_need_one_of_its_own():
    w = world(batch_kind=BatchKind.SERIES)
    w.approve("a")
    w.approve("b")
    w.approve("c", commits=("rev-b",))                   # c needs b: it joins b
    w.approve("x")                                       # x needs nothing: an item of its own
    w.approve("d", commits=("rev-b", "rev-c"))           # d needs c, but x is at the tail now
    assert [[c["change"] for c in w.item(r)["changes"]] for r in "abxd"] == [
        ["a"], ["b", "c"], ["x"], ["d"]]


def test_a_batch_failed_by_a_skipped_job_is_split_too_never_reported_whole():
    w = world(jobs=("lint", "unit"), voting={"lint": False}, deps={"unit": ["lint"]})
    for ref in "abc":
        w.approve(ref)                                    # a, then [b c]
    w.finish("a", "lint")
    w.finish("a")
    w.fail("b", "lint")                                   # unit is skipped: [b c] fails
    assert [r["change"] for r in w.results] == ["a"]
    assert [c["change"] for c in w.item("b")["changes"]] == ["b"]
    assert [c["change"] for c in w.item("c")["changes"]] == ["c"]
