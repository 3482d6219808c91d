"""`gateq merger`: makes the merges the active scheduler asks for in
ZooKeeper (mergeboard.py), `--slots` at once, in repositories of this
host (<state>/merger-git).

It takes requests in the queues' order, each under an ephemeral claim: if
this process dies, its claims go with its session and another merger makes
those merges. For each, it fetches from the scheduler's git daemon the
project's branches (as they are now: an item at the head merges onto the
tips) and the commits the merge starts from, merges with git/merger.py as
the scheduler would, and writes the result with the new objects in one
transaction that checks the claim is still its own, so one merger reports.
A request withdrawn meanwhile drops its result; losing the session drops
every claim.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.parse
from typing import Callable

from kazoo.client import KazooState
from kazoo.exceptions import KazooException, NoNodeError

from ..config.model import Config
from ..core import actions as act
from ..core.types import MergeFailure
from ..git.daemon import fetch_commits
from ..git.merger import Merger, MergeConflict
from ..git.packs import thin_pack
from ..git.repo import GitError, git
from ..merges import MERGE_FAILURES
from ..state.diskfull import disk_full_reason
from ..workers import Answer, Inbox, Pool, wait_until_ready
from . import claims
from .buildboard import read_sources
from .client import Trouble, connect
from .mergeboard import (CLAIMS, MAX_PACK_BYTES, MERGERS, REQUESTS, RESULTS, MergeOutcome,
                         MergerInfo, decode_request)

log = logging.getLogger("gateq")

LOOK_EVERY = 0.5             # seconds between looks at the requests when no watch fired
GIVEN_BACK_FOR = 2.0         # seconds a merge this merger could not fetch for is left to others


class MergerProcess:
    def __init__(self, config: Config, client, name: str, slots: int) -> None:
        self.config, self.zk, self.name, self.slots = config, client, name, slots
        self.inbox = Inbox()
        self.merger = Merger(self.repo_path)
        self.pool = Pool("merges", self.inbox, slots)
        self.claims: dict[str, int] = {}      # request -> its claim's version
        self.unsent: dict[str, MergeOutcome] = {}   # results ZooKeeper did not take yet
        self.given_back: dict[str, float] = {}
        self.fetching: dict[str, threading.Lock] = {}
        self.woken = threading.Event()
        self.lost = False
        self.trouble = Trouble(f"merger {name}", "waiting for it")
        self.advertised: MergerInfo | None = None
        self.node = f"{MERGERS}/{name}"

    def repo_path(self, project: str) -> str:
        return os.path.join(self.config.state_dir, "merger-git",
                            urllib.parse.quote(project, safe="") + ".git")

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        for path in (REQUESTS, CLAIMS, RESULTS, MERGERS):
            self.zk.ensure_path(path)
        self.zk.add_listener(self._session_changed)
        self.advertise()
        self.zk.ChildrenWatch(REQUESTS, lambda children: self.woken.set() or True)
        log.info("merger %s taking merges, %d at once", self.name, self.slots)

    def _session_changed(self, state) -> None:
        if state == KazooState.LOST:
            self.lost = True                  # its claims are gone: others merge those
        self.woken.set()

    def run(self, should_stop: Callable[[], bool]) -> None:
        next_look = 0.0
        while not should_stop():
            if self.lost:
                self.abandon()
            for answer in self.inbox.take():
                answer()
            now = time.monotonic()
            if self.woken.is_set() or now >= next_look:
                self.woken.clear()
                next_look = now + LOOK_EVERY
                self.trouble.look(lambda: (self.send_unsent(), self.look()))
            wait_until_ready(lambda: self.woken.is_set() or self.inbox.ready.is_set(),
                             lambda timeout: time.sleep(timeout), 0.2)

    def stop(self) -> None:
        self.pool.stop(10)
        for name in list(self.claims):
            self.release(name)

    # -- taking requests ----------------------------------------------------------

    def look(self) -> None:
        requests = sorted(self.zk.get_children(REQUESTS))
        present = set(requests)
        for name in [n for n in self.claims if n not in present]:
            log.info("merge %s was withdrawn", name)
            self.release(name)                # its result, when made, is dropped
        now = time.monotonic()
        self.given_back = {n: until for n, until in self.given_back.items() if until > now}
        for name in requests:
            if self.pool.busy >= self.slots:
                break
            if name not in self.claims and self.given_back.get(name, 0) <= now:
                self.take(name)
        self.advertise()

    def take(self, name: str) -> None:
        if self.zk.exists(f"{RESULTS}/{name}"):
            return                            # made, waiting for the scheduler to take it
        taken = claims.take(self.zk, f"{REQUESTS}/{name}", f"{CLAIMS}/{name}", self.name)
        if taken is None:
            return                            # another merger's, or withdrawn
        data, self.claims[name] = taken
        try:
            action = decode_request(data)
        except (ValueError, KeyError, TypeError) as exc:
            self.finish(name, MergeOutcome(self.name, failure=MergeFailure.CONFLICT,
                                           reason=f"unreadable merge request: {exc}"))
            return
        log.info("merger %s took merge %s (item %d, %s)", self.name, name, action.item,
                 action.change.name)
        self.pool.submit(lambda: self.merge(name, action))

    def merge(self, name: str, action: act.PrepareMerge) -> Answer:
        """On a merge thread: fetch what the merge needs, merge, pack what is new."""
        try:
            known = self.fetch(action)
        except (GitError, OSError, KazooException, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            return lambda: self.give_back(name, reason)
        try:
            state, base, bases = self.merger.merge_item(action)
        except (MergeConflict, GitError) as exc:
            full = disk_full_reason(exc)
            if full:
                return lambda: self.give_back(name, full)
            failure = MERGE_FAILURES.get(type(exc), MergeFailure.CONFLICT)
            outcome = MergeOutcome(self.name, failure=failure, reason=str(exc))
            return lambda: self.finish(name, outcome)
        projects = {c.project for c, _ in action.steps}
        packs = {p: thin_pack(self.repo_path(p), [c for q, _, c in state if q == p], known[p])
                 for p in projects}
        unsent: tuple[str, ...] = ()
        if sum(len(pack) for pack in packs.values()) > MAX_PACK_BYTES:
            packs, unsent = {}, tuple(sorted(projects))
        outcome = MergeOutcome(self.name, state, base, bases, packs=packs, unsent=unsent)
        return lambda: self.finish(name, outcome)

    def fetch(self, action: act.PrepareMerge) -> dict[str, list[str]]:
        """Into this host's repositories: the branches of every project the
        merge reads, as the scheduler holds them now, the state it starts
        from and the changes' commits. Returns, per project merged in, the
        commits the scheduler is known to hold (what its pack may leave out)."""
        sources = read_sources(self.zk)
        projects = {c.project for c, _ in action.steps} | {p for p, _ in action.need}
        known: dict[str, list[str]] = {}
        for project in sorted(projects):
            url = sources.git.get(project)
            if url is None:
                raise GitError(f"the active scheduler serves no project {project}")
            path = self.repo_path(project)
            base = [c for p, _, c in action.base if p == project]
            with self.fetching.setdefault(project, threading.Lock()):
                try:
                    fetch_commits(path, url, base)
                    git(path, "fetch", "-q", "--prune", "--no-tags", "--no-write-fetch-head",
                        url, "+refs/heads/*:refs/heads/*")
                except GitError as exc:
                    raise GitError(f"cannot fetch {project} from the active scheduler's git "
                                   f"daemon at {url} ({exc})") from None
                revisions = [c.revision for c, _ in action.steps if c.project == project]
                try:
                    fetch_commits(path, url, revisions)
                except GitError:
                    pass                      # not there: the merge says the change is missing
            tips = git(path, "for-each-ref", "--format=%(objectname)", "refs/heads/").split()
            known[project] = sorted({*base, *tips, *revisions})
        return known

    # -- results ------------------------------------------------------------------

    def give_back(self, name: str, reason: str) -> None:
        """Not the change's fault (the scheduler moved, this host's disk):
        the merge is left to any merger for a while."""
        log.warning("merger %s: merge %s: %s: giving it back", self.name, name, reason)
        self.given_back[name] = time.monotonic() + GIVEN_BACK_FOR
        self.release(name)

    def finish(self, name: str, outcome: MergeOutcome) -> None:
        version = self.claims.pop(name, None)
        if version is not None:
            self.unsent[name] = outcome
            self.send(name, version)

    def send(self, name: str, version: int) -> None:
        """One transaction: the claim still ours, the result made, the claim gone."""
        outcome = self.unsent[name]
        sent = claims.report(self.zk, f"{CLAIMS}/{name}", version, f"{RESULTS}/{name}",
                             outcome.encode())
        if sent is claims.Sent.UNSENT:
            self.claims[name] = version       # kept: sent again while the claim lives
            return
        del self.unsent[name]
        if sent is claims.Sent.NOT_OURS:
            log.warning("merger %s: merge %s is no longer this merger's: its result is dropped",
                        self.name, name)
            return
        what = outcome.failure.value if outcome.failure else "merged"
        log.info("merger %s: merge %s %s", self.name, name, what)

    def send_unsent(self) -> None:
        for name in list(self.unsent):
            version = self.claims.pop(name, None)
            if version is not None:
                self.send(name, version)

    def release(self, name: str) -> None:
        self.claims.pop(name, None)
        self.unsent.pop(name, None)
        claims.release(self.zk, f"{CLAIMS}/{name}")

    def abandon(self) -> None:
        if self.claims:
            log.warning("merger %s: its ZooKeeper session ended: dropping %d merge(s)",
                        self.name, len(self.claims))
        self.claims.clear()                   # their claims went with the session
        self.unsent.clear()
        self.lost = False
        self.advertised = None
        try:
            self.advertise()
        except KazooException:
            pass

    def advertise(self) -> None:
        info = MergerInfo(self.name, self.slots, self.pool.busy)
        if info == self.advertised:
            return
        try:
            self.zk.set(self.node, info.encode())
        except NoNodeError:
            self.zk.create(self.node, info.encode(), ephemeral=True)
        self.advertised = info


def run_merger(config: Config, slots: int | None, should_stop: Callable[[], bool]) -> None:
    client = connect(config.zookeeper, patient=True)
    name = f"{socket.gethostname()}:{os.getpid()}"
    process = MergerProcess(config, client, name, slots or 2)
    try:
        process.start()
        process.run(should_stop)
    finally:
        try:
            process.stop()
        finally:
            client.stop()
            client.close()
