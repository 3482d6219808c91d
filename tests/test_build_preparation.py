"""A build's workspace and artifact views are made, and an item's merge
done, off the gate loop: while one build's checkouts or views are being
made or one item's merge is under way, the loop goes on (other builds start and end, results are
reported), and a build cancelled meanwhile is never started.

Preparation and merges are held up by waiting, inside the real
Workspaces.prepare and Merger.merge_item, for the test to let them go:
git, the executor and the engine are the real ones.
"""
from __future__ import annotations

import os
import threading

import pytest

from gate_fixture import Gate, wait_until
from gateq.config.loader import load_config
from gateq.engine import Engine
from gateq.state import open_store


@pytest.fixture
def gate(tmp_path):
    return Gate(tmp_path, projects=("nova", "glance"))


class HeldPreparation:
    """Holds up the preparation of builds that check out `project`."""

    def __init__(self, engine: Engine, project: str) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        workspaces = engine.builds.workspaces
        real = workspaces.prepare

        def prepare(build, commits):
            if project in commits:
                self.held.set()
                assert self.release.wait(60), "the test never let the preparation go"
            return real(build, commits)
        workspaces.prepare = prepare


class HeldMerge:
    """Holds up the merges of items whose change is in `project`."""

    def __init__(self, engine: Engine, project: str) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        real = engine.merges.merger.merge_item

        def merge_item(action):
            if action.change.project == project:
                self.held.set()
                assert self.release.wait(60), "the test never let the merge go"
            return real(action)
        engine.merges.merger.merge_item = merge_item


class Running:
    """`gateq serve`'s engine in a thread of the test (SQLite wants the
    store used in the thread that opened it), nova's preparation held."""

    def __init__(self, gate: Gate, hold: str, holder=HeldPreparation) -> None:
        self.ready, self.stop = threading.Event(), threading.Event()
        self.engine: Engine | None = None
        self.held: HeldPreparation | HeldMerge | None = None
        self.failed: BaseException | None = None
        self.gate, self.hold, self.holder = gate, hold, holder
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.ready.is_set() or self.failed, "the engine to start")
        assert self.failed is None, f"the engine failed: {self.failed!r}"

    def run(self) -> None:
        try:
            config = load_config(self.gate.config)
            store = open_store(config.state_dir)
            engine = Engine(config, store)
            self.held = self.holder(engine, self.hold)
            engine.start()
            self.engine = engine
            self.ready.set()
            try:
                engine.run(False, self.stop.is_set)
            finally:
                engine.stop()
                store.close()
        except BaseException as exc:       # shown by the test, not lost in the thread
            self.failed = exc

    def close(self) -> None:
        self.stop.set()
        if self.held:
            self.held.release.set()
        self.thread.join(30)
        assert self.failed is None, f"the engine failed: {self.failed!r}"


@pytest.fixture
def running(gate):
    started = Running(gate, "nova")
    yield started
    started.close()


def results(gate: Gate, pipeline: str) -> dict[str, str]:
    return gate.outcome(pipeline)


def test_the_loop_goes_on_while_a_workspace_is_made(gate, running):
    held = running.held
    gate.change("nova", "slow")
    gate.change("glance", "quick")
    gate.propose("nova", "slow")
    wait_until(held.held.is_set, "nova's build to be prepared")
    gate.propose("glance", "quick")
    wait_until(lambda: results(gate, "check").get("quick") == "succeeded",
               "glance's check to end while nova's workspace is being made")
    assert "slow" not in results(gate, "check")
    assert gate.seen_builds("slow") == []
    held.release.set()
    wait_until(lambda: results(gate, "check").get("slow") == "succeeded", "nova's check")
    assert len(gate.seen_builds("slow")) == 1


def test_a_build_cancelled_while_its_workspace_is_made_never_starts(gate, running):
    held, engine = running.held, running.engine
    gate.change("nova", "doomed")
    gate.approve("nova", "doomed")
    wait_until(held.held.is_set, "the gate build to be prepared")
    gate.ok("dequeue", "--pipeline", "gate", "--project", "nova", "--change", "doomed")
    wait_until(lambda: results(gate, "gate").get("doomed") == "dequeued", "the dequeue")
    held.release.set()
    work = os.path.join(engine.config.state_dir, "work")
    wait_until(lambda: not engine.builds.running and not os.listdir(work),
               "the cancelled build's workspace to go")
    assert gate.seen_builds("doomed") == []
    assert not engine.executor.running()
    assert gate.landed("nova") == []


def test_the_loop_goes_on_while_an_item_is_merged(gate):
    running = Running(gate, "nova", HeldMerge)
    try:
        held = running.held
        gate.change("nova", "slow")
        gate.change("glance", "quick")
        gate.propose("nova", "slow")
        wait_until(held.held.is_set, "nova's merge to begin")
        gate.propose("glance", "quick")
        wait_until(lambda: results(gate, "check").get("quick") == "succeeded",
                   "glance's check to end while nova's merge is under way")
        assert "slow" not in results(gate, "check") and gate.seen_builds("slow") == []
        held.release.set()
        wait_until(lambda: results(gate, "check").get("slow") == "succeeded", "nova's check")
        assert len(gate.seen_builds("slow")) == 1
    finally:
        running.close()


class HeldViews:
    """Holds up the artifact views of builds of `project`, and notes every
    garbage collection that runs while one is held."""

    def __init__(self, engine: Engine, project: str) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        self.collected_while_held: list[bool] = []
        real_views, real_collect = engine.artifacts.prepare_views, engine.artifacts.collect_garbage

        def prepare_views(dest, visible):
            build = os.path.basename(os.path.dirname(dest))
            if engine.builds.running[build].change.project == project:
                self.held.set()
                assert self.release.wait(60), "the test never let the view go"
            return real_views(dest, visible)

        def collect_garbage(*args):
            self.collected_while_held.append(self.held.is_set() and not self.release.is_set())
            return real_collect(*args)
        engine.artifacts.prepare_views = prepare_views
        engine.artifacts.collect_garbage = collect_garbage


def test_the_loop_goes_on_while_a_view_is_made_and_the_collector_waits(tmp_path):
    """A view of a large repository takes 0.1 s and more (bench/publish.py):
    it is made with the workspace, off the loop, and no garbage collection
    runs beside it."""
    gate = Gate(tmp_path, projects=("nova", "glance"),
                jobs="- repository: {name: art, type: files}\n")
    running = Running(gate, "nova", holder=HeldViews)
    try:
        held, engine = running.held, running.engine
        gate.change("nova", "slow")
        gate.change("glance", "quick")
        gate.propose("nova", "slow")
        wait_until(held.held.is_set, "nova's view to be made")
        gate.propose("glance", "quick")
        wait_until(lambda: results(gate, "check").get("quick") == "succeeded",
                   "glance's check to end while nova's view is being made")
        asked: list[bool] = []
        at_rest = engine.store_at_rest
        engine.store_at_rest = lambda: asked.append(at_rest()) or asked[-1]
        engine.garbage_due = True             # as after a landing: the collector would run now
        wait_until(lambda: len(asked) >= 3, "the loop to ask whether the collector may run")
        assert "slow" not in results(gate, "check")
        held.release.set()
        wait_until(lambda: results(gate, "check").get("slow") == "succeeded", "nova's check")
        wait_until(lambda: held.collected_while_held, "the collector to run once the view is made")
        assert not any(held.collected_while_held)
    finally:
        running.close()
