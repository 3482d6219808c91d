"""The core's side of builds on nodes: a run lost to its node runs again
without using up an attempt, a bounded number of times."""
import json

from gateq.core import checkpoint
from gateq.core import events as ev
from gateq.core.jobgraph import NODE_FAILURE_RERUNS
from gateq.core.scheduler import Scheduler
from gateq.core.types import JobResult

from scheduler_world import World, layout


def lose_to_node(w: World, ref: str, detail: str = "node n1 stopped answering") -> str:
    build = next(b for b in w.running.values() if b.change.ref == ref)
    del w.running[build.build]
    w.feed(ev.BuildCompleted(w.tick(), build.build, JobResult.NODE_FAILURE, detail))
    return build.build


def test_a_node_failure_runs_the_build_again_without_using_an_attempt():
    w = World()                                      # attempts: 1, the default
    w.approve("a")
    lost = lose_to_node(w, "a")
    again = next(iter(w.running.values()))
    assert again.build == lost + "~2"
    assert w.item("a")["failing"] is None
    w.finish("a")
    assert w.landed == ["a"]
    job = w.result_of("a")["jobs"][0]
    assert (job["result"], job["attempts"], job["retried"]) == ("success", 1, [lost])


def test_after_a_node_failure_a_failed_run_still_has_its_attempts():
    w = World(layout(attempts={"unit": 2}))
    w.approve("a")
    lose_to_node(w, "a")
    w.fail("a")                                      # attempt 1 of 2 failed: runs again
    assert next(iter(w.running.values())).build == "1-0-unit~3"
    w.finish("a")
    job = w.result_of("a")["jobs"][0]
    assert (job["result"], job["attempts"], job["retried"]) == (
        "success", 2, ["1-0-unit", "1-0-unit~2"])


def test_node_failures_are_bounded_then_the_item_fails_saying_why():
    w = World()
    w.approve("a")
    for _ in range(NODE_FAILURE_RERUNS):
        lose_to_node(w, "a")
    assert w.results == []
    lose_to_node(w, "a", "node n2: host key changed")
    a = w.result_of("a")
    assert a["result"] == "failed"
    assert a["reason"] == (f"job unit node-failure: its node failed {NODE_FAILURE_RERUNS + 1} "
                           "times, last: node n2: host key changed")
    assert a["jobs"][0]["attempts"] == 1


def test_a_checkpoint_keeps_the_node_failures_of_a_build():
    w = World(layout(attempts={"unit": 2}))
    w.approve("a")
    lose_to_node(w, "a")
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    restored = Scheduler(w.scheduler.layout, 100, checkpoint.load(data))
    build = restored.state.index[1].builds["unit"]
    assert (build.id, build.attempt, build.node_failures) == ("1-0-unit~2", 1, 1)
