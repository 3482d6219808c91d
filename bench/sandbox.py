"""Benchmark: what the bubblewrap sandbox adds to starting a build.

Runs a trivial job (`#!/bin/sh` + `exit 0`) through gateq's LocalExecutor,
one build at a time, alternately without and with the sandbox the engine
uses (state dir and publish root read-only, the workspace writable, its
views read-only), and reports the median time from `start` until `poll`
reports the build finished, for each, and their ratio.
Usage: python bench/sandbox.py [--builds 100] [--tmp DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.executor import BuildSpec, LocalExecutor  # noqa: E402
from gateq.sandbox import Sandbox, Unavailable, probe  # noqa: E402


def one_build(executor: LocalExecutor, spec: BuildSpec) -> float:
    """Seconds from start until poll reports the build. Polled every 0.2 ms
    rather than through `wait`, whose 20 ms step would hide the difference."""
    began = time.perf_counter()
    executor.start(spec)
    while not executor.poll():
        time.sleep(0.0002)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=100, help="builds of each kind")
    parser.add_argument("--tmp", help="directory to work in (default: a new temporary one)")
    args = parser.parse_args()
    try:
        bwrap = probe()
    except Unavailable as exc:
        sys.exit(f"bench: {exc}")
    with tempfile.TemporaryDirectory(dir=args.tmp) as root:
        state, publish = os.path.join(root, "state"), os.path.join(root, "publish")
        workspace = os.path.join(state, "work", "bench")
        os.makedirs(os.path.join(workspace, "repos"))
        os.makedirs(publish)
        script = os.path.join(root, "job.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(script, 0o755)
        spec = BuildSpec(build="bench", script=script, cwd=workspace, env={}, timeout=60,
                         log_path=os.path.join(state, "logs", "bench.log"),
                         writable=(workspace,), readonly=(os.path.join(workspace, "repos"),))
        executors = {"unsandboxed": LocalExecutor(),
                     "bwrap": LocalExecutor(sandbox=Sandbox(bwrap, (state, publish)))}
        times: dict[str, list[float]] = {name: [] for name in executors}
        for _ in range(args.builds):          # alternated, so both see the same machine load
            for name, executor in executors.items():
                times[name].append(one_build(executor, spec))
    plain, boxed = (statistics.median(times[name]) * 1000 for name in ("unsandboxed", "bwrap"))
    print(f"build start to finish, trivial job, median of {args.builds} each:")
    print(f"  unsandboxed  {plain:7.2f} ms")
    print(f"  bwrap        {boxed:7.2f} ms   (+{boxed - plain:.2f} ms per build)")
    print(f"  ratio        {boxed / plain:7.2f}x")


if __name__ == "__main__":
    main()
