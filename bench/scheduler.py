"""Benchmark: the cost of one scheduler pass as the gate queue grows.

Fills one dependent queue with N items (window and slots wide enough that
every item is merged and running), then times:
  (a) one `step` that causes a full pass: a build of the last item ends;
  (b) a reset at the head of the queue: the head's build fails, so every item
      behind is reset (the step itself), and then the whole queue is merged
      again and its builds restarted, one merge answer per step (the cascade).
It prints the growth from the smallest to the largest queue: a pass should
grow linearly (~100x from 50 to 5,000 items); the function calls a pass makes
show that free of timing noise. Setting up 5,000 items takes about a minute:
every merge answer is a step with a full pass, the same cost as (b).
Usage: python bench/scheduler.py [--sizes 50 500 5000] [--reset-size 500] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.config.model import Job, Layout, Manager, Pipeline, Project, Trigger, Window  # noqa: E402
from gateq.core import actions as act  # noqa: E402
from gateq.core import events as ev  # noqa: E402
from gateq.core.scheduler import Scheduler  # noqa: E402
from gateq.core.types import Change, JobResult, state_dict, state_tuple  # noqa: E402


def layout(window: int) -> Layout:
    return Layout(
        pipelines={"gate": Pipeline("gate", Manager.DEPENDENT, (Trigger("git", "approved"),),
                                    merge_on_success=True,
                                    window=Window(initial=window, floor=window, ceiling=window))},
        jobs={"unit": Job("unit", "/bin/true")},
        projects={p: Project(p, "git", queue="shared", pipelines={"gate": ("unit",)})
                  for p in ("nova", "ceilometer")},
        queues=frozenset({"shared"}))


class Gate:
    """Instant merges (each a new short commit id), builds that end when told."""

    def __init__(self, size: int):
        self.scheduler = Scheduler(layout(size), slots=10 * size)
        self.now = 0.0
        self.running: dict[str, act.StartBuild] = {}
        self.merges: list[act.PrepareMerge] = []

    def tick(self) -> float:
        self.now += 1
        return self.now

    def step(self, event) -> None:
        self.handle(self.scheduler.step(event))

    def handle(self, actions: list) -> None:
        for a in actions:
            if isinstance(a, act.PrepareMerge):
                self.merges.append(a)
            elif isinstance(a, act.StartBuild):
                self.running[a.change.ref] = a
            elif isinstance(a, act.CancelBuild):
                self.running = {r: b for r, b in self.running.items() if b.build != a.build}

    def drain_merges(self) -> int:
        """Answer merge requests, one step each, until none is left."""
        steps = 0
        while self.merges:
            a = self.merges.pop(0)
            state = state_dict(a.base)
            for key in a.need:
                state.setdefault(key, "tip")
            key = (a.change.project, a.change.branch)
            base = state[key]
            state[key] = f"m{a.item}.{a.generation}"
            self.step(ev.MergeCompleted(self.tick(), a.item, a.generation, state_tuple(state), base))
            steps += 1
        return steps

    def fill(self, size: int) -> None:
        """Enqueue without a pass per item (what N EnqueueRequested steps would
        do, minus N-1 passes), then one pass, then answer the merges."""
        for i in range(size):
            change = Change("nova", f"c{i}", "main", f"rev-{i}", frozenset({f"rev-{i}"}))
            self.scheduler.enqueue("gate", change)
        self.handle(self.scheduler.resume())
        self.drain_merges()

    def end_build(self, ref: str, result: JobResult) -> float:
        build = self.running.pop(ref)
        t0 = time.perf_counter()
        self.step(ev.BuildCompleted(self.tick(), build.build, result))
        return time.perf_counter() - t0

    def count_calls(self, ref: str) -> int:
        """Python function calls made by one step: the pass's work, free of timing noise."""
        build = self.running.pop(ref)
        calls = [0]

        def profile(frame, event, arg):
            if event == "call":
                calls[0] += 1
        sys.setprofile(profile)
        try:
            self.step(ev.BuildCompleted(self.tick(), build.build, JobResult.SUCCESS))
        finally:
            sys.setprofile(None)
        return calls[0]


def one_pass(size: int, rounds: int) -> tuple[float, int]:
    """Median seconds of a step that ends a build near the tail (a full pass),
    and the function calls such a step makes."""
    gate = Gate(size)
    gate.fill(size)
    times = [gate.end_build(f"c{size - 1 - r}", JobResult.SUCCESS) for r in range(rounds)]
    return sorted(times)[len(times) // 2], gate.count_calls(f"c{size - 1 - rounds}")


def reset_at_head(size: int) -> tuple[float, float, int]:
    """Seconds of the failing step, then of re-merging the queue, and that many steps."""
    gate = Gate(size)
    gate.fill(size)
    step = gate.end_build("c0", JobResult.FAILURE)
    t0 = time.perf_counter()
    steps = gate.drain_merges()
    cascade = time.perf_counter() - t0
    assert len(gate.running) == size - 1, "every item behind the head runs again"
    return step, cascade, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--reset-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    passes, calls = {}, {}
    for size in args.sizes:
        t0 = time.perf_counter()
        passes[size], calls[size] = one_pass(size, args.rounds)
        print(f"queue of {size:>5} items: one full pass {passes[size] * 1000:8.2f} ms, "
              f"{calls[size]} function calls ({calls[size] / size:.1f} an item); "
              f"setting the queue up took {time.perf_counter() - t0:.1f} s")
    small, large = min(passes), max(passes)
    print(f"growth from {small} to {large} items ({large / small:.0f}x the items): "
          f"time {passes[large] / passes[small]:.0f}x, function calls {calls[large] / calls[small]:.0f}x")
    step, cascade, steps = reset_at_head(args.reset_size)
    print(f"reset at the head of a {args.reset_size}-item queue: the failing step {step * 1000:.1f} ms; "
          f"re-merging the queue behind it took {steps} steps, {cascade:.2f} s "
          f"({cascade / steps * 1000:.2f} ms a step)")


if __name__ == "__main__":
    main()
