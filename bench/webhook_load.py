"""Benchmark: forge webhooks under load while the engine runs a busy gate.

The gate of bench/web_load.py (--items queued changes whose builds hold
every slot, `gateq serve` with its embedded web service) gets a gitea
connection to the forge stand-in of tests/forge/ (--pulls open pull
requests in a project of the layout). For --seconds, --readers clients
read the status while --senders clients deliver webhooks signed as
Gitea signs them (a label put on one of the pull requests: the engine
takes each up, asks the stand-in, and enqueues the pull request once);
every --replay-th delivery repeats one already accepted, which must be
refused (409) and record nothing.

It prints requests per second and p50/p95/p99 latency of the deliveries
and the reads, the errors (any other answer), and checks the intake
table: one row per accepted delivery, none for a replay (none lost, none
twice). --rounds repeats the load phase; ranges are printed.
Usage: python bench/webhook_load.py [--items 200] [--readers 50] [--senders 20]
       [--seconds 30] [--rounds 3] [--pulls 20] [--replay 10]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "bench"), os.path.join(ROOT, "tests")]

from web_load import Serve, idle_reads, make_gate, ms, pct, queued, reader  # noqa: E402
from forge.hooks import SECRET, delivery, pull_hook  # noqa: E402
from forge.standin import TOKEN, ForgeStandIn  # noqa: E402

PROJECT = "rpms/nova"
FORGE_LAYOUT = """\
- pipeline:
    name: forge-gate
    manager: dependent
    trigger: {src: [{event: approved, label: gate}]}
    success: {src: {status: success, merge: true}}
- project: {name: rpms/nova, connection: src, forge-gate: {jobs: [hold]}}
"""


def add_forge(config: str, forge: ForgeStandIn) -> None:
    """The web_load gate, with a gitea connection `src` to the stand-in beside distgit."""
    for name, text in (("src-token", TOKEN), ("src-secret", SECRET)):
        with open(os.path.join(config, name), "w") as f:
            f.write(text + "\n")
    path = os.path.join(config, "gateq.yaml")
    with open(path) as f:
        text = f.read()
    text = text.replace("connections: {distgit: {driver: git, root: repos}}\n", (
        "connections:\n  distgit: {driver: git, root: repos}\n"
        f"  src: {{driver: gitea, url: '{forge.url}', git-url: '{forge.git_url}', "
        "token: src-token, webhook-secret: src-secret, reconcile-interval: 3600}\n"))
    with open(path, "w") as f:
        f.write(text)
    layout = os.path.join(config, "layouts", "gate.yaml")
    with open(layout) as f:
        text = f.read().replace("- project: {name: nova,", "- project: {name: nova, connection: distgit,")
    with open(layout, "w") as f:
        f.write(text + FORGE_LAYOUT)


async def sender(session, url: str, hooks: list, stop: float, found: dict, rng: random.Random,
                 replay: int, n: int) -> None:
    i = n
    while time.monotonic() < stop:
        i += 1
        again = bool(replay and i % replay == 0 and found["accepted_ids"])
        if again:
            body, headers = rng.choice(found["accepted_ids"])
        else:
            body, headers = delivery("gitea", *rng.choice(hooks))
        start = time.monotonic()
        try:
            async with session.post(url + "/api/connections/src/payload", data=body,
                                    headers=headers) as response:
                said = await response.text()
                status = response.status
        except aiohttp.ClientError as exc:
            status, said = None, str(exc)
        took = time.monotonic() - start
        if status == 200 and not again:
            found["accepted"].append(took)
            found["accepted_ids"].append((body, headers))
        elif status == 409 and again:
            found["replays"].append(took)
        else:
            found["errors"].append(f"POST ({'replay' if again else 'new'}): {status} {said[:200]}")


def intake_rows(config: str) -> int:
    with sqlite3.connect(os.path.join(config, "state", "gateq.db")) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'intake'").fetchone():
            return 0
        return db.execute("SELECT COUNT(*) FROM intake WHERE connection = 'src'").fetchone()[0]


async def load(url: str, hooks: list, args, seed: int) -> dict:
    found = {"accepted": [], "accepted_ids": [], "replays": [], "errors": [], "reads": []}
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=args.readers + args.senders + 5)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        began = time.monotonic()
        stop = began + args.seconds
        tasks = [reader(session, url, stop, found["reads"], found["errors"], n)
                 for n in range(args.readers)]
        tasks += [sender(session, url, hooks, stop, found, rng, args.replay, n)
                  for n in range(args.senders)]
        await asyncio.gather(*tasks)
        found["seconds"] = time.monotonic() - began
    return found


def line(name: str, values: list[float], took: float) -> str:
    return (f"  {name:10} {len(values) / took:7.1f}/s  p50 {ms(pct(values, 50))}  "
            f"p95 {ms(pct(values, 95))}  p99 {ms(pct(values, 99))}")


def run_rounds(url: str, config: str, hooks: list, args) -> int:
    failed, summary = False, {"delivery rps": [], "delivery p99": [], "read rps": [],
                              "read p99": []}
    for n in range(args.rounds):
        idle = asyncio.run(idle_reads(url, 2.0))
        before = intake_rows(config)
        found = asyncio.run(load(url, hooks, args, seed=n))
        rows = intake_rows(config) - before
        took, accepted = found["seconds"], found["accepted"]
        print(f"round {n + 1}: {args.readers} readers, {args.senders} senders, {took:.1f} s")
        print(line("deliveries", accepted, took))
        print(line("replays", found["replays"], took) + "  (each refused, 409)")
        print(line("reads", found["reads"], took) +
              f"  (one client, no load: p50 {ms(pct(idle, 50))})")
        print(f"  errors {len(found['errors'])}; intake: {rows} rows for {len(accepted)} accepted "
              f"deliveries and {len(found['replays'])} replays: "
              f"{max(0, len(accepted) - rows)} lost, {max(0, rows - len(accepted))} extra")
        for error in found["errors"][:5]:
            print(f"    {error}")
        failed |= bool(found["errors"] or rows != len(accepted))
        summary["delivery rps"].append(len(accepted) / took)
        summary["delivery p99"].append(pct(accepted, 99) * 1000)
        summary["read rps"].append(len(found["reads"]) / took)
        summary["read p99"].append(pct(found["reads"], 99) * 1000)
    print("ranges over rounds: " + "; ".join(
        f"{name} {min(v):.1f}-{max(v):.1f}" for name, v in summary.items()))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pulls", type=int, default=20)
    parser.add_argument("--replay", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateq-webhook-load-") as root, \
            ForgeStandIn(os.path.join(root, "forge"), "gitea", page_size=50) as forge:
        t = time.monotonic()
        config, _ = make_gate(root, args.items)
        forge.make_project(PROJECT)
        pulls = [forge.open_pull(PROJECT, {f"p{i}.txt": f"{i}\n"}, f"Change {i}", labels=["gate"])
                 for i in range(args.pulls)]
        hooks = [pull_hook(forge, PROJECT, number, "labeled", label="gate") for number in pulls]
        add_forge(config, forge)
        print(f"gate of {args.items} queued items and {args.pulls} pull requests made in "
              f"{time.monotonic() - t:.1f} s")
        serve = Serve(config, os.path.join(root, "serve.log"))
        try:
            serve.wait(lambda: asyncio.run(queued(serve.url)) >= args.items, 120)
            return run_rounds(serve.url, config, hooks, args)
        finally:
            serve.stop()


if __name__ == "__main__":
    sys.exit(main())
