"""Random review gates: changes uploaded with Depends-On (cycles too),
approved with and without Code-Review+2, new patch sets, abandons, builds
that fail, checks before landing that find a lost vote or cannot be made.
After every step the scheduler's books must match its state; every result
has an id of its own; and a checkpoint taken at a random step, through
JSON, resumes the same decisions."""
from __future__ import annotations

import json
import random

import pytest

from gateq.core import checkpoint
from gateq.core import events as ev
from gateq.core.scheduler import Scheduler
from gateq.core.types import ChangeKey, JobResult, NeededChange

from test_core_equivalence import check_books, plain
from test_core_review import CR1, CR2, W1, ReviewWorld, gerrit_change, review_layout

PROJECTS = ("nova", "glance", "nova", "glance", "swift")     # swift: a queue of its own


class Server:
    """The review system's side: each change's current patch set, status and Depends-On."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.changes: dict[int, dict] = {}

    def upload(self, number: int | None = None) -> int:
        if number is None:
            number = 10 + len(self.changes)
            open_ = [n for n, c in self.changes.items() if c["status"] == "open"]
            needs = self.rng.sample(open_, min(len(open_), self.rng.choice((0, 0, 1, 2))))
            self.changes[number] = {"project": self.rng.choice(PROJECTS), "patchset": 1, "status": "open",
                                    "needs": needs}
            if needs and self.rng.random() < 0.5:       # close a cycle
                self.changes[needs[0]]["needs"].append(number)
        else:
            self.changes[number]["patchset"] += 1
        return number

    def change(self, number: int):
        c = self.changes[number]
        return gerrit_change(c["project"], number, c["patchset"],
                             needs=[(self.changes[n]["project"], n) for n in c["needs"]])

    def needed(self, w: ReviewWorld, number: int) -> tuple[NeededChange, ...]:
        out, todo, seen = [], list(self.changes[number]["needs"]), set()
        while todo:
            n = todo.pop(0)
            if n in seen:
                continue
            seen.add(n)
            c = self.changes[n]
            key = ChangeKey("review", c["project"], str(n))
            if c["status"] == "open":
                out.append(NeededChange(key, "open", self.change(n), w.reviews.get(n) or w.state(n)))
                todo += c["needs"]
            else:
                out.append(NeededChange(key, c["status"]))
        return tuple(out)


def step(w: ReviewWorld, server: Server, rng: random.Random) -> None:
    open_ = [n for n, c in server.changes.items() if c["status"] == "open"]
    roll = rng.random()
    if roll < 0.2 or not open_:
        n = server.upload()
        w.state(n, *rng.choice(((), (CR2,), (CR2,), (CR1,))))
        w.upload(server.change(n), needed=server.needed(w, n))
    elif roll < 0.4:
        n = rng.choice(open_)
        w.state(n, rng.choice((CR2, CR2, CR1)), W1)
        w.comment(server.change(n), W1, needed=server.needed(w, n))
    elif roll < 0.47:
        n = server.upload(rng.choice(open_))
        w.state(n)
        w.upload(server.change(n), needed=server.needed(w, n))
    elif roll < 0.52:
        n = rng.choice(open_)
        server.changes[n]["status"] = "abandoned"
        w.abandon(server.change(n))
    elif roll < 0.85 and w.running:
        build = w.running.pop(rng.choice(sorted(w.running)))
        w.feed(ev.BuildCompleted(w.tick(), build.build, rng.choice((JobResult.SUCCESS,) * 4 + (JobResult.FAILURE,))))
    elif w.checks:
        kind = rng.random()
        if kind < 0.15:
            w.answer(reason="review: timed out")
        else:
            if kind < 0.3:
                w.state(w.checks[0].change.number, CR1, W1)
            w.answer()
    for ref in w.landed:
        server.changes[int(ref.split("/")[3])]["status"] = "merged"


def run(seed: int, steps: int = 80) -> ReviewWorld:
    rng = random.Random(seed)
    w = ReviewWorld(review_layout(circular=rng.random() < 0.6, other_queue=("swift",)))
    w.hold_checks = True
    server = Server(rng)
    for _ in range(steps):
        step(w, server, rng)
        check_books(w.scheduler)
        state = w.scheduler.state
        assert set(state.index) == {i.id for i in state.items()}
        assert {m.id for i in state.items() for m in i.members} == set(state.holders)
    return w


@pytest.mark.parametrize("seed", range(40))
def test_random_review_gates_keep_their_books_and_report_each_change_under_its_own_id(seed):
    w = run(seed)
    ids = [r["item"] for r in w.results]
    assert len(ids) == len(set(ids))
    assert not set(ids) & set(w.scheduler.state.holders)


@pytest.mark.parametrize("seed", range(15))
def test_a_checkpoint_of_a_random_review_gate_resumes_the_same_decisions(seed):
    w = run(seed)
    events, lay = w.fed, w.scheduler.layout
    cut = random.Random(seed).randrange(len(events))
    straight = Scheduler(lay, 100)
    for event in events[:cut]:
        straight.step(event)
    data = json.loads(json.dumps(checkpoint.save(straight.state)))
    assert checkpoint.save(checkpoint.load(data)) == data
    restored = Scheduler(lay, 100, checkpoint.load(data))
    check_books(restored)
    for n, event in enumerate(events[cut:]):
        assert plain(restored.step(event)) == plain(straight.step(event)), f"seed {seed}, step {n}"
