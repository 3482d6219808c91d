"""A scheduler that takes over on another host, whose repositories lack
the speculative commits the journal names (they were made in the dead
scheduler's mirror), journals WorkLost: those items are merged again,
head first, each on its base's new state, and their builds run again."""
from gateq.core import events as ev
from gateq.core import codec

from scheduler_world import World


def test_lost_merges_are_made_again_and_the_queue_lands_in_order():
    w = World()
    for ref in ("a", "b", "c"):
        w.approve(ref)
    before = {b.change.ref: b for b in w.running.values()}
    items = tuple(w.item(ref)["item"] for ref in ("a", "b", "c"))
    w.feed(ev.WorkLost(w.tick(), items))
    after = {b.change.ref: b for b in w.running.values()}
    assert set(after) == {"a", "b", "c"}
    assert all(after[r].build != before[r].build for r in after)      # a new generation each
    assert after["b"].state and after["c"].chain == ("nova:a", "nova:b", "nova:c")
    for ref in ("a", "b", "c"):
        w.finish(ref)
    assert w.landed == ["a", "b", "c"]


def test_items_not_named_and_unknown_items_are_left_alone():
    w = World()
    w.approve("a")
    w.approve("b")
    before = {b.change.ref: b.build for b in w.running.values()}
    w.feed(ev.WorkLost(w.tick(), (w.item("b")["item"], 999)))
    after = {b.change.ref: b.build for b in w.running.values()}
    assert after["a"] == before["a"] and after["b"] != before["b"]


def test_the_event_round_trips_through_the_journal():
    event = ev.WorkLost(12.5, (3, 4))
    assert codec.decode(codec.encode(event)) == event
