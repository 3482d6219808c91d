"""`excuse-base-failures`: a job that fails on an item fails it only if the
same job passes on the item's base; otherwise the failure is excused."""
import json

from gateq.core import checkpoint
from gateq.core.scheduler import Scheduler
from gateq.core.types import JobResult

from scheduler_world import World, layout


def world(**kw) -> World:
    return World(layout(excuse=True, **kw))


def test_at_the_head_a_control_build_on_the_tip_decides_and_a_broken_tip_excuses():
    w = world()
    w.approve("a")
    w.fail("a")
    assert w.results == [] and w.item("a")["failing"] is None
    control = next(b for b in w.running.values() if b.control)
    assert (control.build, control.state, control.chain) == ("1-0-unit@base", (("ceilometer", "main", "tip"), ("nova", "main", "tip")), ())
    w.finish("a", result=JobResult.FAILURE, control=True)    # the tip fails the job too
    a = w.result_of("a")
    assert a["result"] == "merged" and w.landed == ["a"]
    assert (a["jobs"][0]["result"], a["jobs"][0]["excused"], a["jobs"][0]["control"]) == (
        "failure", "it fails on the item's base too", "1-0-unit@base")


def test_at_the_head_a_failure_the_tip_does_not_share_ejects_the_item():
    w = world()
    w.approve("a")
    w.approve("b")
    w.fail("a")
    assert w.running_chains()["b"] == ("a", "b")             # still built on a meanwhile
    w.finish("a", control=True)
    a = w.result_of("a")
    assert (a["result"], a["reason"]) == ("failed", "job unit failure; it passes on the item's base")
    assert w.running_chains() == {"b": ("b",)}


def test_behind_the_head_the_item_aheads_own_result_decides():
    w = world()
    for ref in "abc":
        w.approve(ref)
    w.fail("b")                                              # a's result for unit is not known yet
    assert w.item("b")["failing"] is None and w.running_chains()["c"] == ("a", "b", "c")
    assert not any(b.control for b in w.running.values())    # no control build: a's own run decides
    w.finish("a")                                            # a passes: the failure is b's
    assert w.result_of("b")["reason"] == "job unit failure; it passes on the item's base"
    assert w.landed == ["a"] and w.running_chains() == {"c": ("c",)}   # c: without b, on the new tip


def test_a_broken_branch_excuses_every_item_down_the_queue():
    w = world()
    for ref in "abc":
        w.approve(ref)
    w.fail("c")
    w.fail("b")
    w.fail("a")
    w.finish("a", result=JobResult.FAILURE, control=True)
    assert w.landed == ["a", "b", "c"]
    assert [r["jobs"][0]["excused"] for r in w.results] == ["it fails on the item's base too"] * 3
    assert [r["jobs"][0]["control"] for r in w.results] == ["1-0-unit@base", None, None]


def test_an_export_job_that_fails_is_never_excused():
    w = world(jobs=("unit", "build"), export={"build": "rdo"})
    w.approve("a")
    w.fail("a", "build")
    assert w.result_of("a")["reason"] == "job build failure"
    assert not any(b.control for b in w.running.values())


def test_without_the_setting_the_failure_is_the_items():
    w = World()
    w.approve("a")
    w.fail("a")
    assert w.result_of("a")["result"] == "failed" and not w.running


def test_a_checkpoint_keeps_a_control_build_and_the_failure_it_reviews():
    w = world()
    w.approve("a")
    w.fail("a")
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    item = data["pipelines"][0]["queues"][0]["items"][0]
    assert item["builds"][0]["review"] is True and item["controls"][0]["id"] == "1-0-unit@base"
    restored = Scheduler(w.scheduler.layout, 100, checkpoint.load(data))
    assert checkpoint.save(restored.state) == data
    again = restored.resume()
    assert [(a.build, a.control) for a in again] == [("1-0-unit@base", True)]
