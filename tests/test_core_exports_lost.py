"""A scheduler that takes over on another host, whose artifact store lacks
the exports an item had accepted (they were uploaded to, or built on, the
dead scheduler's host), names the item in WorkLost: it is merged and built
again, its export with it, and so is every item whose builds saw that
export in their view. A landing item is started over only when the event
says its landing has not happened. Journals written before exports were
looked for (MergesLost) still replay."""
from gateq.core import actions as act
from gateq.core import codec
from gateq.core import events as ev
from gateq.core.state import Stage

from scheduler_world import World, layout

EXPORTING = layout(jobs=("docs", "reader"), export={"docs": "docs"}, requires={"reader": ["docs"]})


class HeldLandings(World):
    """Landings are held (the item stays landing) until a test lets them go."""

    def land(self, action: act.Land) -> None:
        self.held_lands = getattr(self, "held_lands", []) + [action]

    def let_land(self) -> None:
        for action in self.held_lands:
            World.land(self, action)
        self.held_lands = []


def builds_of(w: World, ref: str) -> dict[str, act.StartBuild]:
    return {b.job: b for b in w.running.values() if b.change.ref == ref}


def exporting_behind_a_slow_head() -> World:
    """a (slow) at the head; b's export accepted and its reader done, b
    waiting for a; c's reader running on a view with a's and b's exports."""
    w = World(EXPORTING)
    for ref in ("a", "b", "c"):
        w.approve(ref)
    w.finish("a", "docs")
    w.finish("b", "docs")
    w.finish("b", "reader")
    w.finish("c", "docs")
    return w


def test_an_item_whose_export_is_lost_builds_it_again_and_so_does_what_saw_it():
    w = exporting_behind_a_slow_head()
    a, c = builds_of(w, "a")["reader"], builds_of(w, "c")["reader"]
    old_b_docs = w.item("b")["jobs"]
    b_export = next(j["build"] for j in old_b_docs if j["name"] == "docs")
    assert ("docs", b_export) in c.artifacts
    w.feed(ev.WorkLost(w.tick(), (w.item("b")["item"],)))
    # a is untouched: its reader still runs, under the same build.
    assert builds_of(w, "a")["reader"].build == a.build
    # b runs its export again, and its reader (a new generation: every build again).
    again = builds_of(w, "b")
    assert set(again) == {"docs", "reader"} and again["docs"].build != b_export
    assert again["docs"].artifacts == (("docs", next(j["build"] for j in w.item("a")["jobs"]
                                                      if j["name"] == "docs")),)
    # c, whose reader saw b's lost export, is built again on b's new state,
    # its reader waiting for b's export to be made again.
    assert c.build not in w.running and "reader" not in builds_of(w, "c")
    w.finish("b", "docs")
    w.finish("b", "reader")
    w.finish("c", "docs")
    new_c = builds_of(w, "c")["reader"]
    assert new_c.build != c.build and b_export not in dict(new_c.artifacts).values() \
        and ("docs", again["docs"].build) in new_c.artifacts
    w.finish("a", "reader")
    w.finish("c", "reader")
    assert w.landed == ["a", "b", "c"]


def test_a_landing_item_is_started_over_only_when_its_landing_has_not_happened():
    w = HeldLandings(EXPORTING)
    w.approve("a")
    w.finish("a", "docs")
    w.finish("a", "reader")
    item = w.scheduler.state.index[w.item("a")["item"]]
    assert item.stage is Stage.LANDING and len(w.held_lands) == 1
    w.feed(ev.WorkLost(w.tick(), (item.id,)))           # named as lost, landing kept
    assert item.stage is Stage.LANDING and not w.running
    stale = w.held_lands.pop()
    w.feed(ev.WorkLost(w.tick(), (), landing=(item.id,)))
    assert item.stage is Stage.TESTING and set(builds_of(w, "a")) == {"docs", "reader"}
    # An answer for the landing before (its generation's) changes nothing.
    w.feed(ev.LandCompleted(w.tick(), stale.item, stale.generation, True, stale.new))
    assert item.stage is Stage.TESTING and not w.results
    w.finish("a", "docs")
    w.finish("a", "reader")
    w.let_land()
    assert w.landed == ["a"] and w.result_of("a")["result"] == "merged"


def test_old_journals_with_merges_lost_replay_as_work_lost():
    old = '{"at": 12.5, "items": [3, 4], "type": "MergesLost"}'
    assert codec.decode(old) == ev.WorkLost(12.5, (3, 4))
    assert codec.encode(ev.WorkLost(12.5, (3, 4))) == old.replace("MergesLost", "WorkLost")
    both = ev.WorkLost(1.0, (3,), landing=(7,))
    assert codec.decode(codec.encode(both)) == both
