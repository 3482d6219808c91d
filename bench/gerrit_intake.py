"""Benchmark: how fast gateq takes in `gerrit stream-events`.

The Gerrit stand-in (tests/gerrit, its own process) turns N reviews of
100 changes in 5 projects into N comment-added events while the consumers
are held; then the consumer is
released and timed until it has all N:
  raw     a bare paramiko channel counting lines (the SSH ceiling)
  reader  gateq's StreamReader: read, split, parse (voluptuous), deliver
and, in this process, `parse` alone over the same lines. Each trial runs
both consumers side by side; the figures are the range over the trials.
Usage: python bench/gerrit_intake.py [--events 10000] [--trials 3]
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

from gateq.drivers.gerrit import (Backoff, GerritSSH, SSHSettings, StreamReader,  # noqa: E402
                                  parse_event)
from gerrit import GerritStandIn, wait_for  # noqa: E402


def make_changes(gerrit: GerritStandIn, author, count: int) -> list[int]:
    """`count` open changes spread over five projects, so that events vary
    as they do on a real server."""
    numbers = []
    for i in range(count):
        project = f"project-{i % 5}"
        if i < 5:
            gerrit.create_project(project)
        numbers.append(gerrit.upload(project, author, {f"src/module_{i}.py": f"x = {i}\n"},
                                     f"Fix module {i} for the new API",
                                     body="Explain the change in a few lines,\nas usual.",
                                     via="api").number)
    return numbers


def produce(gerrit: GerritStandIn, changes: list[int], count: int, trial: int) -> None:
    """`count` reviews in one batch, round-robin over `changes`: the events
    are all queued for the consumers by the time this returns."""
    ops = [{"op": "review", "args": {"user": "alice", "number": changes[i % len(changes)],
                                     "patchset": 1, "labels": {"Code-Review": (-1, 1)[i % 2]},
                                     "message": f"trial {trial}, review {i}"}}
           for i in range(count)]
    gerrit.call("batch", ops=ops)


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


class ReaderConsumer:
    """gateq's StreamReader, held in its first on_event until released."""

    def __init__(self, ssh: GerritSSH, count: int) -> None:
        self.count, self.seen = count, 0
        self.connected, self.release, self.done = (threading.Event(), threading.Event(),
                                                   threading.Event())
        self.reader = StreamReader(ssh, self.on_event, on_connect=self.connected.set,
                                   backoff=Backoff(initial=0.1))
        self.reader.start()
        self.connected.wait(10)

    def on_event(self, event) -> None:
        self.release.wait()
        self.seen += 1
        if self.seen == self.count:
            self.done.set()

    def run(self) -> float:
        began = time.perf_counter()
        self.release.set()
        if not self.done.wait(300):
            raise SystemExit(f"bench: the reader got {self.seen} of {self.count} events")
        elapsed = time.perf_counter() - began
        self.reader.stop()
        return elapsed


def trial(gerrit: GerritStandIn, settings: SSHSettings, changes: list[int], count: int,
          number: int) -> tuple[dict[str, float], list[bytes]]:
    raw = RawConsumer(GerritSSH(settings), count)
    reader = ReaderConsumer(GerritSSH(settings), count)
    gerrit.wait_for_streams(2)
    produce(gerrit, changes, count, number)
    seconds = {"raw": raw.run(), "reader": reader.run()}
    lines = raw.lines[:count]
    began = time.perf_counter()
    for line in lines:
        parse_event(line)
    seconds["parse"] = time.perf_counter() - began
    return {name: count / s for name, s in seconds.items()}, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        gerrit = GerritStandIn(os.path.join(root, "gerrit"))
        gerrit.start()
        try:
            gateq, alice = gerrit.add_user("gateq"), gerrit.add_user("alice")
            changes = make_changes(gerrit, alice, 100)
            settings = SSHSettings("127.0.0.1", "gateq", gateq.key.path,
                                   gerrit.write_known_hosts(os.path.join(root, "known_hosts")),
                                   port=gerrit.port)
            rates = {"raw": [], "reader": [], "parse": []}
            for number in range(args.trials):
                found, lines = trial(gerrit, settings, changes, args.events, number)
                for name, rate in found.items():
                    rates[name].append(rate)
        finally:
            gerrit.stop()
    size = statistics.mean(len(line) for line in lines)
    print(f"stream-events intake, {args.events} comment-added events "
          f"(~{size:.0f} bytes each), {args.trials} trials, lines/s (min - max):")
    for name, label in (("raw", "raw SSH channel, lines counted"),
                        ("reader", "StreamReader: read, parse, deliver"),
                        ("parse", "parse_event alone, in process")):
        print(f"  {label:38s} {min(rates[name]):9,.0f} - {max(rates[name]):9,.0f}")
    ratios = [r / w for r, w in zip(rates["reader"], rates["raw"])]
    print(f"  reader / raw                           {min(ratios):9.2f} - {max(ratios):9.2f}")


if __name__ == "__main__":
    main()
