"""Benchmark: a trivial build on an SSH node against the same build run
locally, side by side, through the executor the engine uses.

A real OpenSSH server on 127.0.0.1 (tests/sshd_fixture.py: its own host
key, an unprivileged user) stands for the node; the job is `true`. Each
round runs one build locally, then one on the node, and times it from
the start to its end being collected (run_until_done polls as the engine's
loop does); the first node build also connects. Prints medians and ranges,
the node/local ratio, and the job's own duration measured where it ran.
Usage: python bench/nodes.py [--builds 20]
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

import sshd_fixture  # noqa: E402
from gateq.config.model import NodeSettings  # noqa: E402
from gateq.executor import BuildSpec, LocalExecutor  # noqa: E402
from gateq.nodes.work import NodeWork  # noqa: E402
from jobs_fixture import run_until_done, write_script  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=20)
    args = parser.parse_args()
    server = sshd_fixture.make_server()
    server.start()
    executor = LocalExecutor()
    try:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="gateq-bench-nodes-"))
        known = server.write_known_hosts(str(tmp / "known_hosts"))
        executor.use_nodes([NodeSettings("bench", "127.0.0.1", server.user, server.client_key,
                                         known, ("bench",), port=server.port, slots=1)])
        script = write_script(tmp, "job.sh", "true\n")

        def one(name: str, on_node: bool) -> tuple[float, float]:
            workspace = tmp / "work" / name
            workspace.mkdir(parents=True)
            began = time.monotonic()
            executor.start(BuildSpec(name, script, str(workspace),
                                     {"GATEQ_WORKSPACE": str(workspace)}, 60,
                                     str(tmp / "logs" / f"{name}.log"),
                                     node=NodeWork("bench", str(workspace)) if on_node else None))
            finished = run_until_done(executor)[name]
            return time.monotonic() - began, finished.duration

        first = one("node-first", True)
        local, node = [], []
        for n in range(args.builds):
            local.append(one(f"local-{n}", False))
            node.append(one(f"node-{n}", True))
    finally:
        executor.shutdown()
        server.stop()

    def show(label: str, runs: list[tuple[float, float]]) -> float:
        walls = [w * 1000 for w, _ in runs]
        own = statistics.median(d * 1000 for _, d in runs)
        print(f"{label:6} median {statistics.median(walls):6.1f} ms (range {min(walls):.1f}-"
              f"{max(walls):.1f}), the job's own median {own:.1f} ms")
        return statistics.median(walls)
    print(f"first node build (connecting too): {first[0] * 1000:.0f} ms")
    ratio = show("node", node) / show("local", local)
    print(f"node/local: {ratio:.2f}x over {args.builds} builds each, interleaved")


if __name__ == "__main__":
    main()
