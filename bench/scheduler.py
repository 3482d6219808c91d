"""Benchmark: the scheduling core against the full pass it replaced.

The full pass (tests/core_reference.py: one pass over every item of every
queue after every event, gateq's algorithm until the core kept books) runs
in the same process on the same events, so each figure is printed side by
side with today's and their ratio. One dependent queue, window and slots
wide enough that every item is merged and running; merges are instant.
  (a) one build-completed event (a success near the tail) in a queue of N;
  (b) a reset at the head of an N-item queue: the head fails, so every item
      behind is reset (the failing step), then the cascade: every merge
      answer, one step each, until every item runs again. It is compared
      with one pass over the queue (each item evaluated once: for the core,
      every item touched and settled; for the full pass, an event that
      changes nothing) and with the failing step;
  (c) enqueueing N items, one EnqueueRequested step each, every merge
      answered as it is asked (how a gate fills);
  (d) with --simulate: a generated day of about 10,000 changes on 100
      workers through `gateq simulate` (one strategy), wall time.
Times are CPU seconds of this process inside the scheduler's steps (others
share the machine; the harness answering the actions is not counted),
medians over --rounds with the range. Growth exponents are
log(t2/t1) / log(n2/n1) between two sizes (1: linear). The full pass takes
a few minutes at the largest sizes; --quick leaves those out.
Usage: python bench/scheduler.py [--rounds 5] [--quick] [--simulate]
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from core_reference import Reference  # noqa: E402

from gateq.config.model import Job, Layout, Manager, Pipeline, Project, Trigger, Window  # noqa: E402
from gateq.core import actions as act  # noqa: E402
from gateq.core import events as ev  # noqa: E402
from gateq.core.scheduler import Scheduler  # noqa: E402
from gateq.core.types import Change, JobResult, state_dict, state_tuple  # noqa: E402

CORE, FULL = "core", "full pass"
# CPU time of this process: the machine is shared, and a wall clock counts
# the time others run. Call counts (--calls) are free of timing noise.
clock = time.process_time
MAKERS = {CORE: Scheduler, FULL: Reference}


def layout(window: int) -> Layout:
    return Layout(
        pipelines={"gate": Pipeline("gate", Manager.DEPENDENT, (Trigger("git", "approved"),),
                                    merge_on_success=True,
                                    window=Window(initial=window, floor=window, ceiling=window))},
        jobs={"unit": Job("unit", "/bin/true")},
        projects={p: Project(p, "git", queue="shared", pipelines={"gate": ("unit",)})
                  for p in ("nova", "ceilometer")},
        queues=frozenset({"shared"}))


def change(i: int) -> Change:
    return Change("nova", f"c{i}", "main", f"rev-{i}", frozenset({f"rev-{i}"}))


class Gate:
    """Instant merges (each a new short commit id), builds that end when told."""

    def __init__(self, kind: str, size: int):
        self.kind = kind
        self.scheduler = MAKERS[kind](layout(size), 10 * size)
        self.now = 0.0
        self.running: dict[str, act.StartBuild] = {}      # change ref -> its build
        self.refs: dict[str, str] = {}                     # build -> change ref
        self.merges: collections.deque[act.PrepareMerge] = collections.deque()
        self.spent = 0.0            # CPU seconds inside the scheduler's steps

    def tick(self) -> float:
        self.now += 1
        return self.now

    def step(self, event) -> None:
        t0 = clock()
        actions = self.scheduler.step(event)
        self.spent += clock() - t0
        self.handle(actions)

    def handle(self, actions: list) -> None:
        for a in actions:
            if isinstance(a, act.PrepareMerge):
                self.merges.append(a)
            elif isinstance(a, act.StartBuild):
                self.running[a.change.ref] = a
                self.refs[a.build] = a.change.ref
            elif isinstance(a, act.CancelBuild):
                self.running.pop(self.refs.pop(a.build), None)

    def answer(self, a: act.PrepareMerge) -> ev.MergeCompleted:
        state = state_dict(a.base)
        for key in a.need:
            state.setdefault(key, "tip")
        key = (a.change.project, a.change.branch)
        base = state[key]
        state[key] = f"m{a.item}.{a.generation}"
        return ev.MergeCompleted(self.tick(), a.item, a.generation, state_tuple(state), base)

    def drain_merges(self) -> int:
        steps = 0
        while self.merges:
            self.step(self.answer(self.merges.popleft()))
            steps += 1
        return steps

    def enqueue_all(self, size: int) -> None:
        """One EnqueueRequested step per change, merges answered as asked."""
        for i in range(size):
            self.step(ev.EnqueueRequested(self.tick(), "gate", change(i)))
            self.drain_merges()

    def fill_fast(self, size: int) -> None:
        """The full pass only: enqueue without a pass per item, one pass, then
        the merges (still a full pass each: about a minute for 5,000)."""
        for i in range(size):
            self.scheduler.enqueue("gate", change(i), [])
        self.handle(self.scheduler.resume())
        self.drain_merges()

    def end_build(self, ref: str, result: JobResult) -> float:
        build = self.running.pop(ref)
        t0 = clock()
        self.step(ev.BuildCompleted(self.tick(), build.build, result))
        return clock() - t0

    def one_pass(self) -> float:
        """Seconds of one pass over the queue: every item evaluated once."""
        t0 = clock()
        if self.kind == CORE:
            for item in list(self.scheduler.state.items()):
                self.scheduler.queues.touch(item)
            self.handle(self.scheduler.settle())
        else:
            self.step(ev.DequeueRequested(self.tick(), "gate", "nova", "no-such-change"))
        return clock() - t0


def filled(kind: str, size: int) -> Gate:
    gate = Gate(kind, size)
    gate.enqueue_all(size) if kind == CORE else gate.fill_fast(size)
    assert len(gate.running) == size
    return gate


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def spread(values: list[float], unit: float = 1000) -> str:
    return f"{median(values) * unit:.3f} ({min(values) * unit:.3f}-{max(values) * unit:.3f})"


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    return math.log(t2 / t1) / math.log(n2 / n1)


# -- (a) one build-completed event -------------------------------------------------

def build_event(kind: str, size: int, rounds: int) -> list[float]:
    gate = filled(kind, size)
    return [gate.end_build(f"c{size - 1 - r}", JobResult.SUCCESS) for r in range(rounds)]


# -- (b) a reset at the head --------------------------------------------------------

def reset_at_head(kind: str, size: int) -> tuple[float, float, float, int]:
    """Seconds of one pass, of the failing step and of the cascade; the steps."""
    gate = filled(kind, size)
    one = median([gate.one_pass() for _ in range(3)])
    step = gate.end_build("c0", JobResult.FAILURE)
    gate.spent = 0.0
    steps = gate.drain_merges()
    cascade = gate.spent            # the scheduler's work, not the harness's merges
    assert len(gate.running) == size - 1, "every item behind the head runs again"
    return one, step, cascade, steps


# -- (c) enqueueing -------------------------------------------------------------------

def enqueue_time(kind: str, size: int) -> float:
    gate = Gate(kind, size)
    gate.enqueue_all(size)
    return gate.spent


# -- (d) a simulated day ----------------------------------------------------------------

def simulate_day(strategy: str, workers: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "day.jsonl")
        cli = [sys.executable, "-m", "gateq.cli", "simulate"]
        gen = subprocess.run(cli + ["--generate", "review-hooks", "--param", "changes_per_hour=420",
                                    "-o", trace], cwd=ROOT, capture_output=True, text=True)
        if gen.returncode != 0:
            return f"could not generate the trace: {gen.stderr.strip()}"
        changes = sum(1 for line in open(trace) if '"id"' in line)
        t0 = time.perf_counter()
        run = subprocess.run(cli + ["--trace", trace, "--strategy", strategy, "--workers", str(workers),
                                    "--seed", "0"], cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if run.returncode != 0:
            return f"simulate failed after {took:.1f} s: {(run.stderr or run.stdout).strip()[-300:]}"
        return f"{changes} changes, {workers} workers, strategy {strategy}: {took:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="leave out the full pass's largest sizes")
    parser.add_argument("--simulate", action="store_true", help="also time a simulated day")
    parser.add_argument("--strategy", default="gateq")
    args = parser.parse_args()

    print("(a) one build-completed event, ms: median (range)")
    events = {}
    for size in (50, 500, 5000):
        kinds = (CORE,) if args.quick and size == 5000 else (CORE, FULL)
        events[size] = {k: build_event(k, size, args.rounds) for k in kinds}
        line = "   ".join(f"{k} {spread(v)}" for k, v in events[size].items())
        ratio = (f"   full pass / core {median(events[size][FULL]) / median(events[size][CORE]):.0f}x"
                 if FULL in events[size] else "")
        print(f"  {size:>5} items: {line}{ratio}")
    for k in (CORE, FULL):
        if k in events[5000]:
            print(f"  growth 500 -> 5000 items ({k}): exponent "
                  f"{exponent(500, median(events[500][k]), 5000, median(events[5000][k])):.2f}")

    print("(b) a reset at the head: one pass, the failing step, the cascade of merge answers")
    resets = {}
    for size in (500, 2000):
        for k in (CORE, FULL):
            if k == FULL and size == 2000 and args.quick:
                continue
            one, step, cascade, steps = resets[(k, size)] = reset_at_head(k, size)
            print(f"  {size:>5} items, {k:>9}: one pass {one * 1000:8.2f} ms, failing step "
                  f"{step * 1000:8.2f} ms, cascade {steps} steps {cascade * 1000:9.1f} ms = "
                  f"{cascade / one:6.1f} passes, {cascade / step:6.1f} failing steps")
        core = resets[(CORE, size)][2]
        if (FULL, size) in resets:
            print(f"  {size:>5} items: the core's cascade is {resets[(FULL, size)][2] / core:.0f}x faster, "
                  f"= {core / resets[(FULL, size)][0]:.1f} of the full pass's passes")
    for k in (CORE, FULL):
        if (k, 2000) in resets:
            print(f"  cascade growth 500 -> 2000 items ({k}): exponent "
                  f"{exponent(500, resets[(k, 500)][2], 2000, resets[(k, 2000)][2]):.2f}")

    print("(c) enqueueing N items, one step each, merges answered as asked, s")
    fills = {}
    for size in (500, 1000, 2000, 5000):
        fills[size] = {k: enqueue_time(k, size) for k in (CORE, FULL)
                       if k == CORE or size <= (1000 if args.quick else 2000)}
        print(f"  {size:>5} items: " + "   ".join(f"{k} {t:7.2f}" for k, t in fills[size].items()))
    for k in (CORE, FULL):
        sizes = [s for s in fills if k in fills[s]]
        print(f"  growth {sizes[0]} -> {sizes[-1]} items ({k}): exponent "
              f"{exponent(sizes[0], fills[sizes[0]][k], sizes[-1], fills[sizes[-1]][k]):.2f}")

    if args.simulate:
        print("(d) a simulated day:", simulate_day(args.strategy, 100))


if __name__ == "__main__":
    main()
