"""Benchmark: reading every result from ZooKeeper (`gateq results`, the
web's results pages on ZooKeeper), one round trip per result against all
of them asked for at once (ZooKeeperStore.results), side by side on the
same nodes of one standalone server on this host (so without network
latency: on a remote ensemble the round trips cost more, and the ratio
grows).
Usage: python bench/zk_results.py [--results 2000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gateq.config.model import ZooKeeperSettings  # noqa: E402
from gateq.zk.store import ROOT as ZK_ROOT, ZooKeeperStore  # noqa: E402
from zk_fixture import make_server  # noqa: E402


def record(item: int) -> dict:
    return {"item": item, "pipeline": "gate", "project": "nova", "change": f"fix-{item}",
            "result": "merged", "reason": None, "enqueued": 1.0, "finished": 2.0,
            "jobs": [{"job": "check", "build": f"{item}-0-check", "result": "success",
                      "duration": 1.5}]}


def one_at_a_time(store: ZooKeeperStore) -> list[dict]:
    names = sorted(n for n in store.zk.get_children(f"{ZK_ROOT}/results") if n != "items")
    return [json.loads(store.zk.get(f"{ZK_ROOT}/results/{n}")[0]) for n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateq-zk-results-") as tmp:
        server = make_server(os.path.join(tmp, "zookeeper"))
        server.start()
        try:
            store = ZooKeeperStore(ZooKeeperSettings(server.hosts, 10.0), os.path.join(tmp, "s"))
            for item in range(1, args.results + 1):
                store.add_result(record(item))
            print(f"{args.results} results; seconds per read of them all")
            print(f"{'round':>5} {'one at a time':>14} {'all at once':>12} {'ratio':>6}")
            for n in range(args.rounds):
                began = time.perf_counter()
                slow = one_at_a_time(store)
                middle = time.perf_counter()
                fast = store.results()
                end = time.perf_counter()
                assert slow == fast and len(fast) == args.results
                print(f"{n + 1:5d} {middle - began:14.3f} {end - middle:12.3f} "
                      f"{(middle - began) / (end - middle):5.1f}x")
            store.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
