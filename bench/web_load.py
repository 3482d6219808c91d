"""Benchmark: the web service under load while the engine runs a busy gate.

A gate with --items queued changes (their builds hold every slot and never
end, so the queue stays full) runs as `gateq serve` with its embedded web
service. For --seconds, --readers clients read the status (the JSON twin
and the page, alternately) while --writers clients post admin `event`
requests (approvals of changes already queued: each one is journaled, and
the scheduler ignores a change it already holds). Webhooks come with the
forge connections; until then admin posts stand for them.

It prints requests per second and p50/p95/p99 latency for reads and writes,
the errors (any answer but 200), and checks the journal: every accepted
post is exactly one journal row, at the row its answer named (none lost,
none twice). Side by side: the same status read by one client with no
load, and the ratio. --rounds repeats the load phase; ranges are printed.
Usage: python bench/web_load.py [--items 200] [--readers 50] [--writers 20]
       [--seconds 30] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gateq.config.loader import load_config  # noqa: E402
from gateq.core.events import TriggerEvent  # noqa: E402
from gateq.requests import Request, record  # noqa: E402
from gateq.state import open_store  # noqa: E402

TOKEN = "bench-" + "x" * 40
LAYOUT = """\
- pipeline:
    name: gate
    manager: dependent
    trigger: {distgit: [{event: approved}]}
    success: {distgit: {merge: true}}
- job: {name: hold, run: jobs/hold.sh, timeout: 36000}
- project: {name: nova, gate: {jobs: [hold]}}
"""
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.org",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.org"}


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_gate(root: str, items: int) -> tuple[str, list[str]]:
    config = os.path.join(root, "config")
    os.makedirs(os.path.join(config, "layouts"))
    os.makedirs(os.path.join(config, "jobs"))
    with open(os.path.join(config, "jobs", "hold.sh"), "w") as f:
        f.write("#!/bin/sh\necho holding\nexec sleep 36000\n")
    os.chmod(os.path.join(config, "jobs", "hold.sh"), 0o755)
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    with open(os.path.join(config, "gateq.yaml"), "w") as f:
        f.write("connections: {distgit: {driver: git, root: repos}}\n"
                "executor: {slots: 2, sandbox: none}\n"
                "checkpoint: {interval: 1000000000}\n"     # the journal is counted afterwards
                f"web:\n  listen: '127.0.0.1:0'\n  tokens:\n"
                f"    - {{name: bench, sha256: '{digest}', actions: [event]}}\n")
    with open(os.path.join(config, "layouts", "gate.yaml"), "w") as f:
        f.write(LAYOUT)
    bare, work = os.path.join(config, "repos", "nova.git"), os.path.join(root, "work")
    git("init", "-q", "--bare", "-b", "main", bare, cwd=root)
    git("clone", "-q", bare, work, cwd=root)
    git("checkout", "-q", "-b", "main", cwd=work)
    git("commit", "-q", "--allow-empty", "-m", "Initial import", cwd=work)
    refs = []
    for n in range(items):
        ref = f"change-{n:04d}"
        git("checkout", "-q", "-b", ref, "main", cwd=work)
        with open(os.path.join(work, f"{ref}.txt"), "w") as f:
            f.write(ref + "\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", ref, cwd=work)
        refs.append(ref)
    git("push", "-q", "origin", "--all", cwd=work)
    loaded = load_config(config)
    for ref in refs:
        record(loaded, Request(action="event", kind="approved", project="nova", change=ref))
    return config, refs


class Serve:
    def __init__(self, config: str, log_path: str):
        self.log_path = log_path
        self.proc = subprocess.Popen([sys.executable, "-m", "gateq.cli", "-c", config, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        self.url = self.wait(lambda: re.search(r"listening on (http://\S+)/", self.log()), 60).group(1)

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def wait(self, condition, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gateq serve exited:\n{self.log()[-2000:]}")
            found = condition()
            if found:
                return found
            time.sleep(0.2)
        raise SystemExit(f"timed out; gateq serve said:\n{self.log()[-2000:]}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


async def queued(url: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/api/status") as response:
            return (await response.json())["items"]


async def reader(session, url: str, stop: float, out: list, errors: list, n: int) -> None:
    paths = ("/api/status", "/status")
    i = n
    while time.monotonic() < stop:
        path = paths[i % 2]
        i += 1
        start = time.monotonic()
        try:
            async with session.get(url + path) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError as exc:
            ok, response = False, exc
        (out if ok else errors).append(time.monotonic() - start if ok else f"GET {path}: {response}")


async def writer(session, url: str, refs: list[str], stop: float, out: list, errors: list,
                 rows: list, rng: random.Random) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < stop:
        body = {"kind": "approved", "project": "nova", "change": rng.choice(refs)}
        start = time.monotonic()
        try:
            async with session.post(url + "/api/event", json=body, headers=headers) as response:
                answer = await response.json()
                ok = response.status == 200
        except aiohttp.ClientError as exc:
            ok, answer = False, str(exc)
        if ok:
            out.append(time.monotonic() - start)
            rows.append(answer["journal_row"])
        else:
            errors.append(f"POST /api/event: {answer}")


async def load(url: str, refs: list[str], args, seed: int) -> dict:
    reads, writes, errors, rows = [], [], [], []
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=args.readers + args.writers + 5)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        began = time.monotonic()
        stop = began + args.seconds
        tasks = [reader(session, url, stop, reads, errors, n) for n in range(args.readers)]
        tasks += [writer(session, url, refs, stop, writes, errors, rows, rng)
                  for _ in range(args.writers)]
        await asyncio.gather(*tasks)
        took = time.monotonic() - began
    return {"reads": reads, "writes": writes, "errors": errors, "rows": rows, "seconds": took}


async def idle_reads(url: str, seconds: float) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as session:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            start = time.monotonic()
            async with session.get(url + "/api/status") as response:
                await response.read()
            times.append(time.monotonic() - start)
    return times


def journaled_approvals(config: str, after: int) -> list[int]:
    """Journal rows after `after` that are approvals (what the writers post)."""
    store = open_store(load_config(config).state_dir, create=False)
    try:
        return [seq for seq, event in store.events_after(after)
                if isinstance(event, TriggerEvent) and event.kind == "approved"]
    finally:
        store.close()


def last_row(config: str) -> int:
    store = open_store(load_config(config).state_dir, create=False)
    try:
        return store.last_seq()
    finally:
        store.close()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateq-web-load-") as root:
        t = time.monotonic()
        config, refs = make_gate(root, args.items)
        print(f"gate of {args.items} queued items made in {time.monotonic() - t:.1f} s")
        serve = Serve(config, os.path.join(root, "serve.log"))
        try:
            serve.wait(lambda: asyncio.run(queued(serve.url)) == args.items, 120)
            return run_rounds(serve.url, config, refs, args)
        finally:
            serve.stop()


def run_rounds(url: str, config: str, refs: list[str], args) -> int:
    failed, summary = False, {"read rps": [], "write rps": [], "read p99": [], "write p99": [],
                              "p50 ratio": []}
    for n in range(args.rounds):
        idle = asyncio.run(idle_reads(url, 3.0))
        before = last_row(config)
        found = asyncio.run(load(url, refs, args, seed=n))
        journaled = journaled_approvals(config, before)
        lost = sorted(set(found["rows"]) - set(journaled))
        extra = sorted(set(journaled) - set(found["rows"]))
        twice = len(found["rows"]) - len(set(found["rows"]))
        reads, writes, took = found["reads"], found["writes"], found["seconds"]
        print(f"round {n + 1}: {args.readers} readers, {args.writers} writers, {took:.1f} s")
        print(f"  reads  {len(reads) / took:7.1f}/s  p50 {ms(pct(reads, 50))}  "
              f"p95 {ms(pct(reads, 95))}  p99 {ms(pct(reads, 99))}")
        print(f"  writes {len(writes) / took:7.1f}/s  p50 {ms(pct(writes, 50))}  "
              f"p95 {ms(pct(writes, 95))}  p99 {ms(pct(writes, 99))}")
        ratio = pct(reads, 50) / statistics.median(idle)
        print(f"  one client, no load: status p50 {ms(statistics.median(idle))}; "
              f"under load {ratio:.1f}x that")
        print(f"  errors {len(found['errors'])}; journal: {len(journaled)} approvals recorded for "
              f"{len(writes)} accepted posts, {len(lost)} lost, {len(extra)} unanswered, "
              f"{twice} answered twice")
        for error in found["errors"][:5]:
            print(f"    {error}")
        failed |= bool(found["errors"] or lost or extra or twice)
        summary["read rps"].append(len(reads) / took)
        summary["write rps"].append(len(writes) / took)
        summary["read p99"].append(pct(reads, 99) * 1000)
        summary["write p99"].append(pct(writes, 99) * 1000)
        summary["p50 ratio"].append(ratio)
    print("ranges over rounds: " + "; ".join(
        f"{name} {min(v):.1f}-{max(v):.1f}" for name, v in summary.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
