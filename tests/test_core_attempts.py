"""`attempts:` per job: a failed run is run again on the same state before
its failure counts, and results say how many runs it took."""
import json

from gateq.core import checkpoint
from gateq.core.scheduler import Scheduler
from gateq.core.types import JobResult

from scheduler_world import World, layout


def test_a_failed_run_with_attempts_left_runs_again_on_the_same_state_and_can_land():
    w = World(layout(attempts={"unit": 2}))
    for ref in ("a", "b"):
        w.approve(ref)
    first = {b.change.ref: b for b in w.running.values()}
    w.fail("a")
    again = {b.change.ref: b for b in w.running.values()}
    assert again["a"].build == first["a"].build + "~2"
    assert again["a"].state == first["a"].state          # the same speculative state
    assert again["b"] is first["b"]                      # b keeps building on a: no reset
    assert w.item("a")["failing"] is None
    w.finish("a")
    w.finish("b")
    assert w.landed == ["a", "b"]
    job = w.result_of("a")["jobs"][0]
    assert (job["result"], job["build"], job["attempts"], job["retried"]) == (
        "success", "1-0-unit~2", 2, ["1-0-unit"])
    assert w.result_of("b")["jobs"][0]["attempts"] == 1


def test_a_job_that_fails_on_every_attempt_fails_the_item_after_the_last():
    w = World(layout(attempts={"unit": 3}))
    w.approve("a")
    w.approve("b")
    w.fail("a")
    w.finish("a", result=JobResult.TIMED_OUT)           # a timeout is retried too
    assert w.results == [] and w.running_chains() == {"a": ("a",), "b": ("a", "b")}
    w.fail("a")
    a = w.result_of("a")
    assert (a["result"], a["reason"]) == ("failed", "job unit failure")
    assert a["jobs"][0]["attempts"] == 3 and a["jobs"][0]["retried"] == ["1-0-unit", "1-0-unit~2"]
    assert w.running_chains() == {"b": ("b",)}


def test_without_attempts_the_first_failure_counts():
    w = World()
    w.approve("a")
    w.fail("a")
    assert w.result_of("a")["result"] == "failed"
    assert w.result_of("a")["jobs"][0]["attempts"] == 1


def test_a_cancelled_run_is_not_retried_and_a_reset_starts_the_attempts_over():
    w = World(layout(attempts={"unit": 2}))
    for ref in ("a", "b"):
        w.approve(ref)
    w.fail("b")                                          # b runs again on a
    w.fail("a")                                          # a runs again
    w.fail("a")                                          # a is out: b is reset onto the tip
    chains = w.running_chains()
    assert chains == {"b": ("b",)}
    b = next(iter(w.running.values()))
    assert b.build == "2-1-unit"                         # a new generation, its first attempt


def test_a_stale_answer_for_a_retried_run_changes_nothing():
    w = World(layout(attempts={"unit": 2}))
    w.approve("a")
    old = next(iter(w.running))
    w.fail("a")
    from gateq.core import events as ev
    assert w.scheduler.step(ev.BuildCompleted(w.tick(), old, JobResult.SUCCESS)) == []
    assert w.item("a")["jobs"][0]["state"] == "running"


def test_a_checkpoint_keeps_the_attempts_of_a_build():
    w = World(layout(attempts={"unit": 2}))
    w.approve("a")
    w.fail("a")
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    build = data["pipelines"][0]["queues"][0]["items"][0]["builds"][0]
    assert (build["id"], build["attempt"], build["retried"]) == ("1-0-unit~2", 2, ["1-0-unit"])
    restored = Scheduler(w.scheduler.layout, 100, checkpoint.load(data))
    again = restored.resume()
    assert [a.build for a in again] == ["1-0-unit~2"]
    item = restored.state.index[1]
    assert item.builds["unit"].retried == ("1-0-unit",)
