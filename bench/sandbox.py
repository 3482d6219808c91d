"""Benchmark: what the bubblewrap sandbox, and its pid namespace, add to a build.

Runs a trivial job (`#!/bin/sh` + `exit 0`) through gateq's LocalExecutor,
one build at a time, alternately without a sandbox, under bwrap as it was
before builds got a pid namespace (mounts only), and under bwrap as the
engine runs it now (pid namespace, its own /proc, --die-with-parent), and
reports for each the median time from `start` until `poll` reports the
build, driven the way the engine loop drives it (`wait`, then `poll`). A
round does that `--builds` times; the figures are given as the range over
`--rounds` rounds, since the machine is shared and noisy.
Usage: python bench/sandbox.py [--builds 100] [--rounds 5] [--tmp DIR]
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
from gateq.sandbox import PROC_OPTIONS, PROCESS_OPTIONS, Sandbox, Unavailable, probe  # noqa: E402


class MountsOnly(Sandbox):
    """The sandbox without its pid namespace: for comparison only."""

    def command(self, argv: list[str], cwd: str, writable: tuple[str, ...] = (),
                readonly: tuple[str, ...] = ()) -> list[str]:
        full = super().command(argv, cwd, writable, readonly)
        cut = full.index("--chdir") - len(PROC_OPTIONS)
        assert tuple(full[cut:cut + len(PROC_OPTIONS)]) == PROC_OPTIONS
        return [full[0]] + full[1 + len(PROCESS_OPTIONS):cut] + full[cut + len(PROC_OPTIONS):]


def one_build(executor: LocalExecutor, spec: BuildSpec) -> float:
    """Seconds from start until poll reports the build."""
    began = time.perf_counter()
    executor.start(spec)
    while not executor.poll():
        executor.wait(1.0)
    return time.perf_counter() - began


def one_round(executors: dict[str, LocalExecutor], spec: BuildSpec, builds: int) -> dict[str, float]:
    """Median milliseconds per build of each kind, builds alternated so
    that all kinds see the same machine load."""
    times: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(builds):
        for name, executor in executors.items():
            times[name].append(one_build(executor, spec))
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def span(values: list[float], unit: str = " ms") -> str:
    return f"{min(values):7.2f} - {max(values):7.2f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=100, help="builds of each kind per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, for the ranges")
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
                     "bwrap, mounts only": LocalExecutor(sandbox=MountsOnly(bwrap, (state, publish))),
                     "bwrap, pid namespace": LocalExecutor(sandbox=Sandbox(bwrap, (state, publish)))}
        rounds = [one_round(executors, spec, args.builds) for _ in range(args.rounds)]
    print(f"build start to report, trivial job, median of {args.builds} builds, "
          f"range over {args.rounds} rounds:")
    for name in executors:
        print(f"  {name:22} {span([r[name] for r in rounds])}")
    print(f"  pid namespace adds     {span([r['bwrap, pid namespace'] - r['bwrap, mounts only'] for r in rounds])}"
          " per build")
    print(f"  ratio to mounts only   {span([r['bwrap, pid namespace'] / r['bwrap, mounts only'] for r in rounds], 'x')}")
    print(f"  ratio to unsandboxed   {span([r['bwrap, pid namespace'] / r['unsandboxed'] for r in rounds], 'x')}")


if __name__ == "__main__":
    main()
