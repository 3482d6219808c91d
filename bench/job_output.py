"""Benchmark: what the capped log pump costs a job that writes fast.

A job writes `--mb` megabytes to its output three ways, side by side in one
run: to a pipe read by `cat > /dev/null` (the floor: any reader costs at
least that), into a file directly (how builds wrote their logs before the
cap), and through gateq's LocalExecutor (a pipe, the pump thread, the log,
capped at `--cap` MiB, the rest read and dropped). Each job times itself;
figures are the range over `--rounds` rounds. While the executor's job runs,
the slowest `poll` of the engine loop is noted too.
Usage: python bench/job_output.py [--mb 1000] [--cap 64] [--rounds 5] [--tmp DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.executor import BuildSpec, LocalExecutor  # noqa: E402

WRITER = """\
#!/bin/sh
t0=$(date +%s%N)
head -c "$BYTES" /dev/zero
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000 )) > "$TIMES"
"""


def timed_shell(script: str, env: dict[str, str], stdout: str) -> float:
    """Milliseconds the job says it took, its output sent to `stdout` (a shell redirection)."""
    subprocess.run(f"{script} {stdout}", shell=True, check=True, env={**os.environ, **env})
    with open(env["TIMES"]) as f:
        return int(f.read()) / 1000


def timed_executor(script: str, env: dict[str, str], root: str, cap: int) -> tuple[float, float]:
    """Milliseconds the job says it took through the executor, and the slowest poll."""
    executor = LocalExecutor(max_output=cap)
    executor.start(BuildSpec(build="bench", script=script, cwd=root, env=env, timeout=600,
                             log_path=os.path.join(root, "logs", "bench.log")))
    slowest, done = 0.0, []
    while not done:
        began = time.perf_counter()
        done = executor.poll()
        slowest = max(slowest, time.perf_counter() - began)
        executor.wait(0.05)
    os.unlink(os.path.join(root, "logs", "bench.log"))
    with open(env["TIMES"]) as f:
        return int(f.read()) / 1000, slowest * 1000


def span(values: list[float], unit: str) -> str:
    return f"{min(values):8.1f} - {max(values):8.1f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1000, help="megabytes the job writes")
    parser.add_argument("--cap", type=int, default=64, help="logs.max-output, MiB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tmp", help="directory to work in (default: a new temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as root:
        script = os.path.join(root, "writer.sh")
        with open(script, "w") as f:
            f.write(WRITER)
        os.chmod(script, 0o755)
        env = {"BYTES": str(args.mb * 1000 * 1000), "TIMES": os.path.join(root, "times")}
        kinds: dict[str, list[float]] = {"pipe to cat": [], "file": [], "gateq": [], "poll": []}
        for _ in range(args.rounds):
            kinds["pipe to cat"].append(timed_shell(script, env, "| cat > /dev/null"))
            kinds["file"].append(timed_shell(script, env, f"> {root}/direct.log"))
            os.unlink(os.path.join(root, "direct.log"))
            through, slowest_poll = timed_executor(script, env, root, args.cap * 1024 * 1024)
            kinds["gateq"].append(through)
            kinds["poll"].append(slowest_poll)
    print(f"a job writing {args.mb} MB, log capped at {args.cap} MiB, range over {args.rounds} rounds:")
    for name in ("pipe to cat", "file", "gateq"):
        print(f"  {name:24} {span(kinds[name], ' ms')}")
    ratios = [g / c for g, c in zip(kinds["gateq"], kinds["pipe to cat"])]
    print(f"  gateq / pipe to cat      {span(ratios, 'x')}")
    ratios = [g / f for g, f in zip(kinds["gateq"], kinds["file"])]
    print(f"  gateq / file             {span(ratios, 'x')}")
    print(f"  slowest poll meanwhile   {span(kinds['poll'], ' ms')}")


if __name__ == "__main__":
    main()
