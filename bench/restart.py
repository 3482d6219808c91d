"""Benchmark: how long an engine takes to rebuild its state after a restart.

A busy gate records N journal events (enqueues, merge answers, build
results, landings; a queue of about --depth items that is never empty, so
the old idle-only checkpoint never cut the journal). The same events go
into two state directories, one checkpointed every --interval events as the
engine does now, one never (the journal since start-up, as a gate that is
never idle had before). The figure is the time `gateq.replay` takes to
rebuild the scheduler from each: load the last checkpoint, then replay the
journal after it. N + interval - 1 events are recorded: the worst case,
just before the next checkpoint. With checkpoints it stays flat as N grows;
without, it grows with N. Medians over --rounds, with the range.
Usage: python bench/restart.py [--events 1000 5000 10000] [--interval 1000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gateq.config.loader import load_config  # noqa: E402
from gateq.core import actions as act  # noqa: E402
from gateq.core import checkpoint  # noqa: E402
from gateq.core import events as ev  # noqa: E402
from gateq.core.scheduler import Scheduler  # noqa: E402
from gateq.core.types import Change, JobResult, state_dict, state_tuple  # noqa: E402
from gateq.replay import current  # noqa: E402
from gateq.state import open_store  # noqa: E402

LAYOUT = """\
- pipeline:
    name: gate
    manager: dependent
    trigger: {distgit: [{event: approved}]}
    success: {distgit: {merge: true}}
- job: {name: unit, run: jobs/unit.sh}
- job: {name: lint, run: jobs/unit.sh}
- project: {name: nova, gate: {jobs: [unit, lint]}}
"""


def make_config(root: str):
    os.makedirs(os.path.join(root, "layouts"))
    os.makedirs(os.path.join(root, "jobs"))
    with open(os.path.join(root, "jobs", "unit.sh"), "w") as f:
        f.write("#!/bin/sh\ntrue\n")
    os.chmod(os.path.join(root, "jobs", "unit.sh"), 0o755)
    with open(os.path.join(root, "gateq.yaml"), "w") as f:
        f.write("connections:\n  distgit:\n    driver: git\n    root: repos\n")
    with open(os.path.join(root, "layouts", "gate.yaml"), "w") as f:
        f.write(LAYOUT)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", os.path.join(root, "repos", "nova.git")],
                   check=True)
    tree = subprocess.run(["git", "-C", os.path.join(root, "repos", "nova.git"), "mktree"], input="",
                          capture_output=True, text=True, check=True).stdout.strip()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    commit = subprocess.run(["git", "-C", os.path.join(root, "repos", "nova.git"), "commit-tree", tree,
                             "-m", "init"], capture_output=True, text=True, check=True, env=env).stdout.strip()
    subprocess.run(["git", "-C", os.path.join(root, "repos", "nova.git"), "update-ref", "refs/heads/main",
                    commit], check=True)
    return load_config(root)


class BusyGate:
    """Drives the real scheduler like the engine's adapters, keeping about
    `depth` items queued; every event goes to each store in `stores`."""

    def __init__(self, config, depth: int, stores: list):
        self.scheduler = Scheduler(config.layout, slots=2 * depth)
        self.depth = depth
        self.stores = stores            # (store, interval or None)
        self.written = 0
        self.todo: collections.deque = collections.deque()
        self.now = 0.0
        self.changes = 0
        self.tips = {("nova", "main"): "tip-0"}

    def record(self, event) -> None:
        """As the engine: journal the event, step it, then checkpoint at the interval."""
        self.written += 1
        seqs = [store.append(event) for store, _ in self.stores]
        self.handle(self.scheduler.step(event))
        for (store, interval), seq in zip(self.stores, seqs):
            if interval and seq % interval == 0:
                store.checkpoint(seq, checkpoint.save(self.scheduler.state))

    def handle(self, actions) -> None:
        for a in actions:
            self.now += 1
            if isinstance(a, act.PrepareMerge):
                state = state_dict(a.base)
                for key in a.need:
                    state.setdefault(key, self.tips.get(key, "tip-0"))
                key = (a.change.project, a.change.branch)
                base = state[key]
                state[key] = f"m{a.item}.{a.generation}"
                self.todo.append(ev.MergeCompleted(self.now, a.item, a.generation, state_tuple(state), base))
            elif isinstance(a, act.StartBuild):
                bad = a.change.ref.endswith("7") and a.job == "unit"
                self.todo.append(ev.BuildCompleted(self.now, a.build,
                                                   JobResult.FAILURE if bad else JobResult.SUCCESS))
            elif isinstance(a, act.Land):
                self.tips[(a.project, a.branch)] = a.new
                self.todo.append(ev.LandCompleted(self.now, a.item, a.generation, True, a.new))

    def run(self, events: int) -> None:
        while self.written < events:
            if len(self.scheduler.state.index) < self.depth or not self.todo:
                self.changes += 1
                rev = f"{self.changes:040x}"
                self.record(ev.EnqueueRequested(self.now, "gate", Change(
                    "nova", f"c{self.changes}", "main", rev, frozenset({rev}))))
            else:
                self.record(self.todo.popleft())


def time_restart(config, state_dir: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        store = open_store(state_dir)
        t0 = time.perf_counter()
        current(config, store)
        times.append(time.perf_counter() - t0)
        store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--interval", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"restart after N + {args.interval - 1} journal events (the most a checkpointed "
          f"journal holds), queue ~{args.depth} deep, checkpoint every {args.interval} events "
          f"vs never; median (range) of {args.rounds}")
    print(f"{'events':>8} {'checkpointed':>22} {'never cut':>22} {'ratio':>7}")
    for n in args.events:
        with tempfile.TemporaryDirectory() as work:
            config = make_config(os.path.join(work, "config"))
            cut = open_store(os.path.join(work, "cut"))
            whole = open_store(os.path.join(work, "whole"))
            gate = BusyGate(config, args.depth, [(cut, args.interval), (whole, None)])
            gate.run(n + args.interval - 1)     # the worst case: just before a checkpoint
            cut.close()
            whole.close()
            a = time_restart(config, os.path.join(work, "cut"), args.rounds)
            b = time_restart(config, os.path.join(work, "whole"), args.rounds)
            med_a, med_b = statistics.median(a), statistics.median(b)
            print(f"{n:>8} {med_a * 1000:>9.1f} ms ({min(a) * 1000:.0f}-{max(a) * 1000:.0f}) "
                  f"{med_b * 1000:>9.1f} ms ({min(b) * 1000:.0f}-{max(b) * 1000:.0f}) "
                  f"{med_b / med_a:>6.1f}x")


if __name__ == "__main__":
    main()
