"""The core decides exactly what a full pass over every queue decides.

tests/core_reference.py keeps the old algorithm (one pass over everything
after every event). Random gates (tests/core_drive.py) feed the same events
to it and to gateq.core; every step must give the same actions in the same
order, and the same queues. After every step the core's books are checked
against the state they are derived from.
"""
import pytest

from gateq.core import actions as act
from gateq.core.jobgraph import running as running_builds
from gateq.core.scheduler import Scheduler
from gateq.core.state import Stage

from core_drive import RESUME, Drive
from core_reference import Reference

SEEDS = range(400)


def plain(actions: list) -> list:
    return [("Report", without_times(a.record.as_dict())) if isinstance(a, act.Report) else a
            for a in actions]


NEWER_JOB_KEYS = ("started_at", "finished_at", "duration", "attempts", "retried", "excused", "control")


def without_times(record: dict) -> dict:
    """The reference predates the jobs' times and attempts in results, and batches."""
    jobs = [{k: v for k, v in j.items() if k not in NEWER_JOB_KEYS} for j in record["jobs"]]
    return {**{k: v for k, v in record.items() if k != "batch"}, "jobs": jobs}


def plain_reference(actions: list) -> list:
    return [("Report", a.record) if isinstance(a, act.Report) else a for a in actions]


def queues_of_core(s: Scheduler) -> dict:
    return {(p.name, q.name): (q.window, [
        (i.id, i.generation, i.base, i.base_generation, i.failing,
         {Stage.QUEUED: "pending", Stage.MERGING: "requested", Stage.CONFLICT: "conflict"}.get(i.stage, "merged"),
         i.stage is Stage.LANDING, {j: (b.state, b.result) for j, b in i.builds.items()})
        for i in q.items]) for p in s.state.pipelines.values() for q in p.queues.values()}


def queues_of_reference(r: Reference) -> dict:
    return {(p, q.name): (q.window, [
        (i.id, i.generation, i.base, i.base_generation, i.failing, i.merge, i.landing,
         {j: (b.state, b.result) for j, b in i.builds.items()})
        for i in q.items]) for p, queues in r.pipelines.items() for q in queues.values()}


def check_books(s: Scheduler) -> None:
    """What the core derives matches what it is derived from."""
    assert not s.queues.dirty_queues
    for (pipeline, name), tracker in s.queues.trackers.items():
        queue = s.state.pipelines[pipeline].queues[name]
        assert [i.order for i in queue.items] == sorted(i.order for i in queue.items)
        assert not tracker.dirty
        if not s.layout.pipelines[pipeline].dependent:
            continue
        nnfi = None
        for item in queue.items:
            if item.stage is not Stage.LANDING:
                assert (item.base, item.base_generation) == ((nnfi.id, nnfi.generation) if nnfi else (None, None))
            assert tracker.nnfi_behind(item) is (nnfi if item.failing else item)
            nnfi = nnfi if item.failing else item
    startable = [i for i in s.state.index.values() if start_candidates(s, i)]
    assert not startable or len(s.state.builds) >= s.slots, f"builds left unstarted: {startable}"
    running = {b.id for i in s.state.index.values() for b in running_builds(i)}
    assert running == set(s.state.builds)


def start_candidates(s: Scheduler, item) -> list:
    from gateq.core.starts import startable
    return startable(s.queues, s.queues.tracker_of(item), item)


def run_both(seed: int, steps: int = 120) -> None:
    drive = Drive(seed, steps)
    core = Scheduler(drive.layout, drive.slots)
    reference = Reference(drive.layout, drive.slots)
    for n, event in enumerate(drive.events()):
        if event == RESUME:
            drive.restart()
            got, want = core.resume(), reference.resume()
        else:
            got, want = core.step(event), reference.step(event)
        assert plain(got) == plain_reference(want), f"seed {seed}, step {n}: {event}"
        assert queues_of_core(core) == queues_of_reference(reference), f"seed {seed}, step {n}"
        check_books(core)
        drive.handle(got)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_core_and_a_full_pass_decide_alike(seed):
    run_both(seed)


@pytest.mark.parametrize("seed", range(1000, 1040))
def test_they_decide_alike_on_long_runs_with_deep_queues(seed):
    run_both(seed, steps=600)
