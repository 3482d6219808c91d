"""Benchmark: the cost of ZooKeeper mode per item, against the embedded
SQLite mode, on the same small trace.

The trace: N trivial changes (a one-file change each, the test job that
only lists files) approved in one project, then `gateq run --until-idle`
gates them all; the time of that run is divided by N. The same trace runs
on a fresh SQLite state directory and on a fresh ZooKeeper namespace
(one standalone server from tests/zk_fixture.py, on this host, so the
figure is the store's cost without network latency: add the ensemble's
round trips, about 10 writes per item, for a remote one).
Usage: python bench/zk_overhead.py [--changes 20] [--trials 3]
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

from kazoo.client import KazooClient  # noqa: E402

from gate_fixture import Gate  # noqa: E402
from zk_fixture import make_server  # noqa: E402


def one_run(changes: int, hosts: str | None) -> float:
    """Seconds per landed item of one run of the trace."""
    with tempfile.TemporaryDirectory(prefix="gateq-zk-overhead-") as tmp:
        g = Gate(tmp)
        if hosts:
            with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
                f.write(f"zookeeper:\n  hosts: '{hosts}'\n")
        refs = [f"fix-{n}" for n in range(changes)]
        for ref in refs:
            g.change("nova", ref)
            g.approve("nova", ref)
        started = time.perf_counter()
        g.run()
        elapsed = time.perf_counter() - started
        assert g.landed() == refs, g.landed()
        return elapsed / changes


def fmt(xs: list[float]) -> str:
    """min, median, max in milliseconds."""
    return " ".join(f"{x * 1000:7.1f}" for x in (min(xs), statistics.median(xs), max(xs)))


def fresh_namespace(hosts: str) -> None:
    client = KazooClient(hosts=hosts)
    client.start(10)
    client.delete("/gateq", recursive=True)
    client.stop()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateq-zk-server-") as tmp:
        server = make_server(os.path.join(tmp, "zookeeper"), sync=True)
        server.start()
        try:
            sqlite, zk = [], []
            for _ in range(args.trials):      # interleaved, so both see the same machine load
                sqlite.append(one_run(args.changes, None))
                fresh_namespace(server.hosts)
                zk.append(one_run(args.changes, server.hosts))
        finally:
            server.stop()
    print(f"{args.changes} changes, {args.trials} trials; ms per landed item (min median max)")
    print(f"  sqlite     {fmt(sqlite)}")
    print(f"  zookeeper  {fmt(zk)}")
    ratios = [z / s for z, s in zip(zk, sqlite)]
    print(f"  zookeeper/sqlite per trial: {min(ratios):.2f}x to {max(ratios):.2f}x; overhead "
          f"{(statistics.median(zk) - statistics.median(sqlite)) * 1000:+.1f} ms per item (medians)")


if __name__ == "__main__":
    main()
