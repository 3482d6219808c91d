"""A checkpoint holds the whole scheduler State: a Scheduler loaded from one
taken in the middle of a busy gate decides exactly as the one it came from.

Random gates (tests/core_drive.py) run twice: once straight through, once
checkpointed at a random step (through JSON, as the store keeps it), loaded
into a fresh Scheduler that is fed the rest. Every later action must match,
and so must the final state. A malformed checkpoint is one clear ValueError.
"""
import json
import random

import pytest

from gateq.core import checkpoint
from gateq.core.scheduler import Scheduler
from gateq.core.snapshot import snapshot

from core_drive import RESUME, Drive
from scheduler_world import World
from test_core_equivalence import check_books, plain


def feed(s: Scheduler, event) -> list:
    return s.resume() if event == RESUME else s.step(event)


@pytest.mark.parametrize("seed", range(150))
def test_a_checkpoint_taken_while_busy_resumes_the_same_decisions(seed):
    drive = Drive(seed, steps=160, newer=True)
    events = list_events(drive)
    cut = random.Random(seed).randrange(len(events))
    straight, first = Scheduler(drive.layout, drive.slots), None
    for n, event in enumerate(events):
        if n == cut:
            data = json.loads(json.dumps(checkpoint.save(straight.state)))
            assert checkpoint.save(checkpoint.load(data)) == data
            first = Scheduler(drive.layout, drive.slots, checkpoint.load(data))
            check_books(first)
            assert snapshot(first) == snapshot(straight)
        want = plain(feed(straight, event))
        if first is not None:
            assert plain(feed(first, event)) == want, f"seed {seed}, step {n}, cut at {cut}"
    assert checkpoint.save(first.state) == checkpoint.save(straight.state)


def list_events(drive: Drive) -> list:
    """The drive's events, answered from one scheduler's actions."""
    s = Scheduler(drive.layout, drive.slots)
    events = []
    for event in drive.events():
        if event == RESUME:
            drive.restart()
        events.append(event)
        drive.handle(feed(s, event))
    return events


def test_a_busy_checkpoint_holds_items_builds_and_reasons():
    w = World()
    w.conflicts.add(("a", "b"))
    for ref in "abc":
        w.approve(ref)
    w.fail("c")
    data = json.loads(json.dumps(checkpoint.save(w.scheduler.state)))
    assert data["version"] == checkpoint.VERSION and data["next_item"] == 4
    items = {i["change"]["ref"]: i for i in data["pipelines"][0]["queues"][0]["items"]}
    assert items["a"]["stage"] == "testing" and items["a"]["builds"][0]["state"] == "running"
    assert (items["b"]["stage"], items["b"]["failing"]) == ("conflict", "conflict with a")
    assert items["c"]["failing"] == "job unit failure"
    assert items["c"]["builds"][0]["result"] == "failure"
    assert data["running"] == {"1-0-unit": 1}


def test_after_a_restart_from_a_busy_checkpoint_what_was_in_flight_is_asked_again():
    w = World()
    w.hold_merges = True
    w.approve("a")
    w.release_merges()
    w.hold_merges = True
    w.approve("b")                       # b's merge is in flight, a's build runs
    restarted = Scheduler(w.scheduler.layout, 100, checkpoint.load(
        json.loads(json.dumps(checkpoint.save(w.scheduler.state)))))
    again = restarted.resume()
    assert [type(a).__name__ for a in again] == ["PrepareMerge", "StartBuild"]
    assert again[0].item == w.held[0].item and again[1].build == "1-0-unit"


def test_the_idle_form_older_gateq_saved_still_loads():
    state = checkpoint.load({"next_item": 42, "windows": {"gate": {"shared": 7}}})
    assert state.next_item == 42 and state.pipelines["gate"].queues["shared"].window == 7
    assert not state.index and not state.builds
    assert checkpoint.load(None).next_item == 1


def busy() -> dict:
    w = World()
    w.approve("a")
    w.approve("b")
    return json.loads(json.dumps(checkpoint.save(w.scheduler.state)))


def broken(change) -> dict:
    data = busy()
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("running"), "checkpoint: missing 'running'"),
    (lambda d: d["pipelines"][0]["queues"][0]["items"][1].pop("generation"),
     "checkpoint: pipelines[0].queues[0].items[1]: missing 'generation'"),
    (lambda d: d["pipelines"][0]["queues"][0]["items"][0].update(stage="flying"),
     "checkpoint: pipelines[0].queues[0].items[0].stage: 'flying' is not one of queued, merging, "
     "merged, testing, conflict, landing, removed"),
    (lambda d: d["pipelines"][0]["queues"][0].update(window="20"),
     "checkpoint: pipelines[0].queues[0].window: '20' is not a int"),
    (lambda d: d["pipelines"][0]["queues"][0]["items"][0]["builds"][0].update(result="great"),
     "checkpoint: pipelines[0].queues[0].items[0].builds[0].result: 'great' is not one of success, "
     "failure, timed-out, cancelled, skipped, node-failure"),
    (lambda d: d["pipelines"][0]["queues"][0]["items"][0]["spec"].append(["nova"]),
     "checkpoint: pipelines[0].queues[0].items[0].spec[2]: not a [project, branch, commit] triple"),
    (lambda d: d["running"].update({"9-0-unit": 9}),
     "checkpoint: running: build 9-0-unit runs for item 9, which no queue holds"),
    (lambda d: d.update(version=7), "checkpoint: version: 7 is not a version this gateq reads (1, 2)"),
    (lambda d: d.update(pipelines={}), "checkpoint: pipelines: not a list"),
])
def test_a_malformed_checkpoint_is_one_line_naming_the_field(change, message):
    with pytest.raises(ValueError) as caught:
        checkpoint.load(broken(change))
    assert str(caught.value) == message


def test_a_malformed_idle_checkpoint_names_the_field_too():
    with pytest.raises(ValueError, match=r"^checkpoint: missing 'windows'$"):
        checkpoint.load({"next_item": 3})
    with pytest.raises(ValueError, match=r"^checkpoint: windows.gate.shared: 'x' is not a int$"):
        checkpoint.load({"next_item": 3, "windows": {"gate": {"shared": "x"}}})
