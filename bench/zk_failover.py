"""Benchmark: failover of `gateq scheduler` on a real ZooKeeper.

Two schedulers on one ZooKeeper (Debian's zookeeper package, started by
tests/zk_fixture.py), a queue of four changes whose builds sleep; once the
active one has landed a change it is SIGKILLed, and the time is taken from
the kill to the standby's first decision: its "scheduler active" line,
written once it has replayed the journal and carried out what the journal
left to do. The standby can take over only once ZooKeeper has ended the
dead one's session, so the target is the session timeout plus one second.
Usage: python bench/zk_failover.py [--trials 3] [--session-timeout 3 10]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import test_zk_scheduler as pair  # noqa: E402
from gate_fixture import wait_until  # noqa: E402
from zk_fixture import make_server  # noqa: E402


def one_failover(session: float) -> float:
    with tempfile.TemporaryDirectory(prefix="gateq-zk-failover-") as tmp:
        server = make_server(os.path.join(tmp, "zookeeper"), sync=True)
        server.start()
        a = b = None
        try:
            pair.SESSION = session
            g, other = pair.two_configs(tmp, server.hosts)
            pair.queue_changes(g, 1)
            a, b = pair.start_pair(g, other, pathlib.Path(tmp))
            wait_until(lambda: len(g.landed()) >= 1, "a first landing", timeout=120)
            a.process.kill()
            killed = time.monotonic()
            wait_until(lambda: b.says("scheduler active"), "the standby to take over",
                       timeout=session + 60, every=0.01)
            return time.monotonic() - killed
        finally:
            for s in (a, b):
                if s:
                    s.stop()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--session-timeout", type=float, nargs="+", default=[3.0, 10.0])
    args = parser.parse_args()
    print(f"{'session':>8} {'failover min':>13} {'median':>7} {'max':>6} {'target':>7}  goal")
    for session in args.session_timeout:
        times = [one_failover(session) for _ in range(args.trials)]
        target = session + 1.0
        print(f"{session:7.1f}s {min(times):12.2f}s {statistics.median(times):6.2f}s "
              f"{max(times):5.2f}s {target:6.1f}s  "
              f"{'met' if max(times) <= target else 'NOT met'} ({args.trials} trials)")


if __name__ == "__main__":
    main()
