"""Benchmark: how fast gateq takes in Gerrit, and what reconciling costs.

The Gerrit stand-in (tests/gerrit, its own process) turns N reviews of
100 changes in 5 projects into N comment-added events while the consumers
are held; then each consumer is released and timed until it has all N:
  raw      a bare paramiko channel counting lines (the SSH ceiling)
  reader   gateq's StreamReader: read, split, parse (voluptuous), deliver
  source   the gerrit connection's source: the reader, the event as a
           ReviewEvent, prepared (its patch set already in the mirror),
           delivered to a journal callback appending it to a real
           SqliteStore (one committed row per event, as the journal does)
and, in this process, `parse` alone over the same lines. Each trial runs
the consumers side by side; the figures are the range over the trials.

Latency: single reviews on the stand-in, one at a time, from the control
request to the journal callback having appended the event (p50, p95).
Engine latency: `gateq serve` on the stand-in (a gate pipeline: trigger
Workflow+1, require Code-Review+2); a change approved at a time, from the
control request to its item shown enqueued in the engine's status (what
`gateq status` reads), each item gated before the next (p50, p95).

Reconciliation: --changes open, approved changes in --projects projects;
one run of the connection's reconcile for a gate trigger (Code-Review+2,
Workflow+1) and a check trigger: number of queries and time, the first
run (fetching every patch set into an empty mirror) and a second (all
there), against asking Gerrit change by change.
Usage: python bench/gerrit_intake.py [--events 10000] [--trials 3]
         [--latency 200] [--engine-latency 50] [--changes 500] [--projects 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gateq.core.events import TriggerEvent  # noqa: E402
from gateq.core.types import Change  # noqa: E402
from gateq.drivers.base import TriggerQuery  # noqa: E402
from gateq.drivers.gerrit import (Backoff, GerritSSH, SSHSettings, StreamReader,  # noqa: E402
                                  parse_event, query_changes)
from gateq.drivers.gerrit.connection import GerritConnection  # noqa: E402
from gateq.drivers.gerrit.query import parse_output, query_command  # noqa: E402
from gateq.drivers.gerrit.reconcile import plan  # noqa: E402
from gateq.drivers.records import ReviewEvent, ReviewEventKind  # noqa: E402
from gateq.state import SqliteStore  # noqa: E402
from gerrit import GerritStandIn  # noqa: E402

GATE = (("Code-Review", 2), ("Workflow", 1))


def make_changes(gerrit: GerritStandIn, author, count: int, projects: int,
                 prefix: str = "project") -> list[int]:
    """`count` open changes spread over `projects` projects, made in two
    batches (commits, then uploads) so that setting up stays quick."""
    names = [f"{prefix}-{p}" for p in range(projects)]
    for name in names:
        gerrit.create_project(name)
    tips = {name: gerrit.branch_tip(name) for name in names}
    commits = gerrit.call("batch", ops=[
        {"op": "commit", "args": {"project": names[i % projects], "parents": [tips[names[i % projects]]],
                                  "files": {f"src/module_{i}.py": f"x = {i}\n"},
                                  "message": f"Fix module {i} for the new API\n\nExplain the "
                                             f"change in a few lines,\nas usual.\n\nChange-Id: "
                                             f"I{i:040x}\n", "author": [author.name, author.email]}}
        for i in range(count)])
    uploaded = gerrit.call("batch", ops=[
        {"op": "upload", "args": {"project": names[i % projects], "branch": "main",
                                  "revision": commits[i], "user": author.username}}
        for i in range(count)])
    return [u[0]["number"] for u in uploaded]


def produce(gerrit: GerritStandIn, changes: list[int], count: int, trial: int) -> None:
    """`count` reviews in one batch, round-robin over `changes`: the events
    are all queued for the consumers by the time this returns."""
    ops = [{"op": "review", "args": {"user": "alice", "number": changes[i % len(changes)],
                                     "patchset": 1, "labels": {"Code-Review": (-1, 1)[i % 2]},
                                     "message": f"trial {trial}, review {i}"}}
           for i in range(count)]
    gerrit.call("batch", ops=ops)


class Journal:
    """The engine's journal callback, as it will be: the event appended to
    the state database (as a TriggerEvent row) from the thread delivering
    it, on that thread's own connection."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.local = threading.local()

    def __call__(self, event: ReviewEvent) -> None:
        store = getattr(self.local, "store", None)
        if store is None:
            store = self.local.store = SqliteStore(self.state_dir)
        change = event.change
        store.append(TriggerEvent(event.created_at or time.time(), event.connection,
                                  event.kind.value, Change(event.project, change.ref or "",
                                                           event.branch or "", change.revision or "")))


class RawConsumer:
    """stream-events on a bare channel, lines counted, nothing parsed."""

    def __init__(self, ssh: GerritSSH, count: int) -> None:
        self.client, self.channel = ssh.open_stream(["gerrit", "stream-events", "-s",
                                                     "comment-added"])
        self.count, self.lines = count, []

    def run(self) -> float:
        began, pending = time.perf_counter(), b""
        while len(self.lines) < self.count:
            *lines, pending = (pending + self.channel.recv(1 << 16)).split(b"\n")
            self.lines += lines
        elapsed = time.perf_counter() - began
        self.client.close()
        return elapsed


class Held:
    """A consumer's callback, held in its first call until released."""

    def __init__(self, count: int, then=None) -> None:
        self.count, self.seen, self.then = count, 0, then
        self.release, self.done = threading.Event(), threading.Event()

    def __call__(self, event) -> None:
        self.release.wait()
        if self.then is not None:
            self.then(event)
        self.seen += 1
        if self.seen == self.count:
            self.done.set()

    def run(self, stop) -> float:
        began = time.perf_counter()
        self.release.set()
        if not self.done.wait(600):
            raise SystemExit(f"bench: got {self.seen} of {self.count} events")
        elapsed = time.perf_counter() - began
        stop()
        return elapsed


def reader_consumer(settings: SSHSettings, count: int) -> tuple[Held, StreamReader]:
    connected = threading.Event()
    held = Held(count)
    reader = StreamReader(GerritSSH(settings), held, on_connect=connected.set,
                          backoff=Backoff(initial=0.1))
    reader.start()
    connected.wait(10)
    return held, reader


def source_consumer(site: "Site", count: int, trial: int) -> tuple[Held, GerritConnection]:
    """The connection's source into a real journal; its on-connect
    reconciliation (a check trigger) puts every patch set in the mirror."""
    journal = Journal(os.path.join(site.root, f"state-{trial}"))
    held = Held(count, journal)
    conn = site.connection(f"mirror-{trial}")
    conn.start(lambda event: held(event) if event.kind is ReviewEventKind.COMMENT else None,
               [site.check], site.projects)
    site.wait_reconciled(conn)
    return held, conn


class Site:
    """The stand-in, its users, and gerrit connections to it."""

    def __init__(self, root: str, gerrit: GerritStandIn, users: dict, projects: list[str]) -> None:
        self.root, self.gerrit, self.users, self.projects = root, gerrit, users, projects
        self.settings = SSHSettings("127.0.0.1", "gateq", users["gateq"].key.path,
                                    gerrit.write_known_hosts(os.path.join(root, "known_hosts")),
                                    port=gerrit.port)
        # A check trigger: its reconciliation on connecting fetches every open patch set.
        self.check = TriggerQuery("check", ReviewEventKind.PROPOSED, tuple(projects), wip=None)

    @staticmethod
    def wait_reconciled(conn: GerritConnection, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while conn.status().reconciliations == 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: no reconciliation: {conn.status().last_error}")
            time.sleep(0.05)

    def connection(self, mirror: str) -> GerritConnection:
        return GerritConnection("review", self.settings, f"ssh://gateq@127.0.0.1:{self.gerrit.port}",
                                "http://review.example.org", os.path.join(self.root, mirror),
                                backoff=Backoff(initial=0.1))


def intake_trial(site: Site, changes: list[int], count: int, number: int
                 ) -> tuple[dict[str, float], list[bytes]]:
    raw = RawConsumer(GerritSSH(site.settings), count)
    reader, stream = reader_consumer(site.settings, count)
    source, conn = source_consumer(site, count, number)
    site.gerrit.wait_for_streams(3)
    produce(site.gerrit, changes, count, number)
    seconds = {"raw": raw.run(), "reader": reader.run(stream.stop), "source": source.run(conn.stop)}
    lines = raw.lines[:count]
    began = time.perf_counter()
    for line in lines:
        parse_event(line)
    seconds["parse"] = time.perf_counter() - began
    return {name: count / s for name, s in seconds.items()}, lines


def latency(site: Site, changes: list[int], samples: int) -> list[float]:
    """Seconds from a review's control request to its event being journaled."""
    journal = Journal(os.path.join(site.root, "state-latency"))
    arrived: dict[str, float] = {}
    ready = threading.Condition()

    def deliver(event: ReviewEvent) -> None:
        if event.kind is ReviewEventKind.COMMENT and event.comment:
            journal(event)
            with ready:
                arrived[event.comment.splitlines()[-1]] = time.perf_counter()
                ready.notify_all()
    conn = site.connection("mirror-latency")
    conn.start(deliver, [site.check], site.projects)
    site.wait_reconciled(conn)
    found = []
    try:
        for i in range(samples + 10):
            tag = f"latency-{i}"
            began = time.perf_counter()
            site.gerrit.review(changes[i % len(changes)], site.users["alice"], message=tag,
                               patchset=1)
            with ready:
                if not ready.wait_for(lambda: tag in arrived, 30):
                    raise SystemExit(f"bench: {tag} never arrived")
            if i >= 10:                                  # the first ones warm up
                found.append(arrived[tag] - began)
    finally:
        conn.stop()
    return found


def engine_latency(site: Site, samples: int) -> list[float]:
    """Seconds from a Workflow+1 review's control request to its item in
    the status the engine publishes, through the real engine."""
    from gerrit.fixtures import Site as TestSite
    from gerrit.gate import APPROVE, GerritGate
    from gerrit.standin import wait_for
    known_hosts = site.gerrit.write_known_hosts(os.path.join(site.root, "known_hosts"))
    gate = GerritGate(os.path.join(site.root, "engine"), TestSite(site.gerrit, site.users,
                      known_hosts, site.root), ["engine-latency"], pipelines=ENGINE_GATE)
    gate.write_job("check.sh", "#!/bin/sh\ntrue\n")
    gate.start()
    found = []
    try:
        wait_for(lambda: gate.link() == "up", 60, "the engine's connection up")
        store = SqliteStore(os.path.join(gate.config, "state"), create=False)
        alice = site.users["alice"]
        for i in range(samples + 5):
            change = site.gerrit.upload("engine-latency", alice, {f"f{i}": "x\n"}, f"Change {i}",
                                        via="api")
            site.gerrit.review(change.number, alice, {"Code-Review": 2})
            time.sleep(0.3)            # the stream has told the engine of both (not timed)
            began = time.perf_counter()
            site.gerrit.review(change.number, alice, {"Workflow": APPROVE["Workflow"]})
            wait_for(lambda: change.ref in queued(store.read_status() or {}), 30,
                     f"change {change.number} enqueued", step=0.002)
            if i >= 5:                                  # the first ones warm up
                found.append(time.perf_counter() - began)
            wait_for(lambda: any(r["change"] == change.ref for r in store.results()), 60,
                     f"change {change.number} gated")
        store.close()
    finally:
        gate.stop()
    return found


def queued(status: dict) -> set[str]:
    return {item["change"] for p in status.get("pipelines", ()) for q in p["queues"]
            for item in q["items"]}


ENGINE_GATE = """\
- pipeline:
    name: gate
    manager: dependent
    require: {review: {approval: [{Code-Review: 2}]}}
    trigger: {review: [{event: comment-added, approval: [{Workflow: 1}]}]}
    success: {review: {Verified: 2, submit: true}}
    failure: {review: {Verified: -2}}
"""


def reconciliation(site: Site, count: int, projects: int) -> None:
    alice = site.users["alice"]
    numbers = make_changes(site.gerrit, alice, count, projects, prefix="reconcile")
    site.gerrit.call("batch", ops=[{"op": "review", "args": {
        "user": "alice", "number": n, "patchset": 1, "labels": dict(GATE)}} for n in numbers])
    names = [f"reconcile-{p}" for p in range(projects)]
    queries = [TriggerQuery("gate", ReviewEventKind.COMMENT, tuple(names), GATE),
               TriggerQuery("check", ReviewEventKind.PROPOSED, tuple(names))]
    conn = site.connection("mirror-reconcile")
    conn.projects = frozenset(names)
    runs = []
    for _ in range(2):
        began = time.perf_counter()
        found = conn.reconcile(queries)
        runs.append((found, time.perf_counter() - began))
    ssh = GerritSSH(site.settings)
    outputs = [ssh.run(query_command(text)).stdout for text in plan(queries, names)]
    began = time.perf_counter()
    for output in outputs:
        parse_output(output)
    parsing = time.perf_counter() - began
    began = time.perf_counter()
    for number in numbers:
        query_changes(ssh, f"change:{number}")
    per_change = time.perf_counter() - began
    ssh.close()
    conn.stop()
    (first, first_s), (second, second_s) = runs
    print(f"reconciliation, {count} open approved changes in {projects} projects, "
          f"2 triggers (gate, check):")
    print(f"  events found                           {len(first.events):9d} "
          f"({len({e.change.number for e in first.events})} changes)")
    print(f"  queries per run                        {first.queries:9d}")
    print(f"  first run (empty mirror)               {first_s:8.2f}s  queries "
          f"{first.seconds:.2f}s + fetching {first.fetch_seconds:.2f}s")
    print(f"  second run (patch sets in the mirror)  {second_s:8.2f}s  queries "
          f"{second.seconds:.2f}s + fetching {second.fetch_seconds:.2f}s")
    print(f"    of which gateq reading the answers   {parsing:8.2f}s  (the rest: the stand-in "
          "and SSH)")
    print(f"  one query per change instead           {per_change:8.2f}s  ({count} queries)")
    print(f"  per-change / reconciliation queries    {per_change / second.seconds:9.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--engine-latency", type=int, default=50)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--projects", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        gerrit = GerritStandIn(os.path.join(root, "gerrit"))
        gerrit.start()
        try:
            users = {name: gerrit.add_user(name, can_push=name == "gateq")
                     for name in ("gateq", "alice")}
            changes = make_changes(gerrit, users["alice"], 100, 5)
            site = Site(root, gerrit, users, [f"project-{p}" for p in range(5)])
            report_latency(latency(site, changes, args.latency))    # before the stand-in fills up
            report_latency(engine_latency(site, args.engine_latency),
                           "comment-added (Workflow+1) to the item enqueued, through gateq serve")
            rates = {"raw": [], "reader": [], "source": [], "parse": []}
            for number in range(args.trials):
                found, lines = intake_trial(site, changes, args.events, number)
                for name, rate in found.items():
                    rates[name].append(rate)
            report_intake(args, rates, lines)
            reconciliation(site, args.changes, args.projects)
        finally:
            gerrit.stop()


def report_intake(args, rates: dict[str, list[float]], lines: list[bytes]) -> None:
    size = statistics.mean(len(line) for line in lines)
    print(f"stream-events intake, {args.events} comment-added events "
          f"(~{size:.0f} bytes each), {args.trials} trials, lines/s (min - max):")
    for name, label in (("raw", "raw SSH channel, lines counted"),
                        ("reader", "StreamReader: read, parse, deliver"),
                        ("source", "source: + prepare, journal append"),
                        ("parse", "parse_event alone, in process")):
        print(f"  {label:38s} {min(rates[name]):9,.0f} - {max(rates[name]):9,.0f}")
    for name in ("reader", "source"):
        ratios = [r / w for r, w in zip(rates[name], rates["raw"])]
        print(f"  {name + ' / raw':38s} {min(ratios):9.2f} - {max(ratios):9.2f}")


def report_latency(found: list[float], what: str = "comment-added to journaled") -> None:
    found.sort()
    p50, p95 = found[len(found) // 2], found[int(len(found) * 0.95)]
    print(f"{what}, {len(found)} reviews one at a time: "
          f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {found[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
