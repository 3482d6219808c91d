"""Benchmark: landed changes per hour with 1, 2 and 4 `gateq executor`
processes on a real ZooKeeper.

One active scheduler (zookeeper.executors: true), CHANGES good changes
spread over four projects in one shared gate queue whose window admits
them all, each build a `sleep` of --job seconds; every executor runs
--slots builds at once, in a state directory of its own (its own
repositories, filled from the scheduler's git daemon). The clock runs from
the approval of every change (the queue full) to the last result, so the
figure is the gate's throughput with that many executors. Sleep jobs use
no CPU, so a 2-core machine can stand for many executor hosts; what does
use CPU is the scheduler, the executors' git fetches and workspaces, and
ZooKeeper: where the figure stops growing, one of them is the limit, and
the run prints each process's CPU time to say which.
Usage: python bench/zk_scale.py [--executors 1 2 4] [--changes 40] [--job 4] [--slots 2]
       [--mergers 0 2]   (with mergers, the scheduler's CPU without its merges)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gate_fixture import Gate, wait_until  # noqa: E402
from zk_fixture import make_server  # noqa: E402
from zk_processes import Process, add_zookeeper, host_config  # noqa: E402

PROJECTS = ("nova", "glance", "cinder", "swift")


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and its waited-for children, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))   # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def one_run(executors: int, changes: int, job: float, slots: int,
            mergers: int = 0) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="gateq-zk-scale-") as tmp:
        server = make_server(os.path.join(tmp, "zookeeper"), sync=True)
        server.start()
        processes: list[Process] = []
        try:
            g = Gate(tmp, projects=PROJECTS, window=changes, slots=slots, timeout=600)
            add_zookeeper(g, server.hosts, 10, executors=True, mergers=mergers > 0)
            names = [f"c{n:03d}" for n in range(changes)]
            for n, name in enumerate(names):
                g.change(PROJECTS[n % len(PROJECTS)], name, {"SLEEP": str(job)})
            scheduler = Process(g.config, os.path.join(tmp, "scheduler.log"))
            processes.append(scheduler)
            wait_until(lambda: scheduler.says("scheduler active"), "the scheduler", timeout=60)
            for e in range(executors):
                config = host_config(g, f"e{e}")
                processes.append(Process(config, os.path.join(tmp, f"e{e}.log"), "executor",
                                         "--slots", str(slots)))
            for m in range(mergers):
                config = host_config(g, f"m{m}")
                processes.append(Process(config, os.path.join(tmp, f"m{m}.log"), "merger"))
            wait_until(lambda: all(p.says("taking builds") or p.says("taking merges")
                                   for p in processes[1:]), "the executors", timeout=60)
            began = time.monotonic()
            for n, name in enumerate(names):
                g.approve(PROJECTS[n % len(PROJECTS)], name)
            wait_until(lambda: len(g.results()) == changes, "every result",
                       timeout=changes * job * 2 + 300, every=0.1)
            elapsed = time.monotonic() - began
            merged = sum(r["result"] == "merged" for r in g.results())
            if merged != changes:
                raise SystemExit(f"only {merged} of {changes} changes landed")
            cpu = {"scheduler": cpu_seconds(scheduler.process.pid),
                   "executors": sum(cpu_seconds(p.process.pid) for p in processes[1:1 + executors]),
                   "mergers": sum(cpu_seconds(p.process.pid) for p in processes[1 + executors:]),
                   "zookeeper": cpu_seconds(server.process.pid)}
            return elapsed, cpu
        finally:
            for p in processes:
                p.stop()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--job", type=float, default=4.0, help="seconds each build sleeps")
    parser.add_argument("--slots", type=int, default=2, help="builds at once per executor")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--mergers", type=int, nargs="+", default=[0],
                        help="gateq merger processes (0: the scheduler merges)")
    args = parser.parse_args()
    print(f"{args.changes} changes in {len(PROJECTS)} projects, one shared gate queue, "
          f"builds sleeping {args.job:g} s, {args.slots} slots per executor")
    print(f"{'executors':>9} {'mergers':>7} {'wall s':>8} {'landed/h':>9} {'vs 1':>6} "
          f"{'ideal':>6}  cpu s: scheduler executors mergers zookeeper")
    first = None
    for mergers in args.mergers:
        for count in args.executors:
            runs = [one_run(count, args.changes, args.job, args.slots, mergers)
                    for _ in range(args.trials)]
            wall = statistics.median(r[0] for r in runs)
            cpu = runs[len(runs) // 2][1]
            rate = args.changes / wall * 3600
            first = first or (rate, count)
            print(f"{count:9d} {mergers:7d} {wall:8.1f} {rate:9.0f} {rate / first[0]:5.2f}x "
                  f"{count / first[1]:5.1f}x  {cpu['scheduler']:9.1f} {cpu['executors']:9.1f} "
                  f"{cpu['mergers']:7.1f} {cpu['zookeeper']:9.1f}"
                  f"  (walls {', '.join(f'{r[0]:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
