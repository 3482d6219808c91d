"""Run a Python module's main under cProfile, every thread included, and
count the subprocesses it starts by command (git by its subcommand).

cProfile alone sees only the main thread, and the engine prepares
workspaces and lands on threads of its own: each thread's run is profiled
on its own and the profiles are added up at the end. Time in a subprocess
is the caller's wall time inside subprocess.run (git's cost as the engine
waits for it); processes started by Popen alone (the jobs) are only counted.
--usage alone instruments nothing: it writes the CPU time of the process
(every thread) and of its main thread, apart from its children's.
Usage: python bench/profiled.py [--out run.prof --calls run.json] [--usage cpu.json]
       -m MODULE [ARGS...]
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pstats
import resource
import runpy
import subprocess
import sys
import threading
import time

STARTED: collections.Counter[str] = collections.Counter()     # command -> Popen calls
WAITED: collections.Counter[str] = collections.Counter()      # command -> seconds inside run()
PROFILES: list[cProfile.Profile] = []
GUARD = threading.Lock()


def command_of(argv) -> str:
    """`git merge-tree`, `bwrap`, ...: what a subprocess is, for counting."""
    argv = [argv] if isinstance(argv, (str, bytes)) else list(argv)
    name = os.path.basename(str(argv[0]))
    if name != "git":
        return name
    rest = iter(argv[1:])
    for arg in rest:
        if arg in ("-C", "-c", "--git-dir", "--work-tree"):
            next(rest, None)
        elif not str(arg).startswith("-"):
            return f"git {arg}"
    return "git"


def instrument() -> None:
    """Count every Popen, time every run(), profile every thread."""
    popen_init, run, thread_run = subprocess.Popen.__init__, subprocess.run, threading.Thread.run

    def counting_init(self, args, *rest, **kw):
        with GUARD:
            STARTED[command_of(args)] += 1
        popen_init(self, args, *rest, **kw)

    def timed_run(args, *rest, **kw):
        began = time.perf_counter()
        try:
            return run(args, *rest, **kw)
        finally:
            with GUARD:
                WAITED[command_of(args)] += time.perf_counter() - began

    def profiled_run(self):
        profile = cProfile.Profile()
        with GUARD:
            PROFILES.append(profile)
        profile.runcall(thread_run, self)

    subprocess.Popen.__init__ = counting_init
    subprocess.run = timed_run
    threading.Thread.run = profiled_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="the profile (pstats), every thread added up")
    parser.add_argument("--calls", help="subprocess counts and times, as JSON (with --out)")
    parser.add_argument("--usage", help="CPU seconds of this process and of its main thread, "
                                        "as JSON; alone, nothing is instrumented")
    parser.add_argument("-m", dest="module", required=True, help="the module, then its arguments")
    at = sys.argv.index("-m") + 2 if "-m" in sys.argv else len(sys.argv)   # its own args end there
    args = parser.parse_args(sys.argv[1:at])
    if bool(args.out) != bool(args.calls):
        parser.error("--out and --calls go together")
    sys.argv = [args.module, *sys.argv[at:]]
    code = profiled(args.module, args.out, args.calls) if args.out else run(args.module)
    if args.usage:
        own = resource.getrusage(resource.RUSAGE_SELF)
        with open(args.usage, "w") as f:
            json.dump({"process": own.ru_utime + own.ru_stime, "main_thread": time.thread_time()}, f)
    sys.exit(code)


def run(module: str) -> int:
    """Run `module` as __main__, found as `python -m` finds it (the current
    directory first, not this script's); its exit status."""
    sys.path[0] = os.getcwd()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def profiled(module: str, out: str, calls: str) -> int:
    instrument()
    main_profile = cProfile.Profile()
    code = main_profile.runcall(run, module)
    stats = pstats.Stats(main_profile)
    with GUARD:
        for profile in PROFILES:
            try:
                stats.add(profile)
            except TypeError:          # a thread still running: no stats yet
                pass
        stats.dump_stats(out)
        with open(calls, "w") as f:
            json.dump({"started": dict(STARTED), "waited": dict(WAITED),
                       "threads": len(PROFILES)}, f, indent=1, sort_keys=True)
    return code


if __name__ == "__main__":
    main()
