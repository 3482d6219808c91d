"""`gateq executor`: runs the builds the active scheduler asks for in
ZooKeeper (buildboard.py), on this host, `executor.slots` at once.

It takes requests by priority (gate first, then the item's place), at most
as many as it has free slots, each under an ephemeral claim: if this
process dies, its claims go with its session and another executor runs the
builds again. A build's commits are fetched from the scheduler's git
daemon into repositories of this host (<state>/executor-git), its workspace
made from kept checkouts of them, as `gateq serve` makes its own
(builds.py, with the same job environment), and its result written in one
transaction with a check that the claim is still this process's, so a
build is reported by one executor only. A request withdrawn (the build was
cancelled, or the scheduler that asked is gone and its successor does not
ask again) stops the build. Losing the session stops every build.

With artifact repositories, a build's view comes from the scheduler's
artifact server with its commits, and an export build's artifacts/ goes
back to it before the result is written (artifacts_fetched.py). An upload
that does not get there ends the build as a node failure: it runs again.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

from kazoo.client import KazooState
from kazoo.exceptions import KazooException, NoNodeError

from .. import orphans
from ..builds import Builds
from ..config.model import Config
from ..core import actions as act
from ..core.events import BuildCompleted
from ..core.types import JobResult
from ..executor import Finished, LocalExecutor
from ..git.daemon import fetch_commits
from ..git.repo import GitError
from ..git.workspace import Workspaces
from ..review.hub import config_change_url
from ..state.errors import StateError
from ..workers import Answer, Inbox, Pool, wait_until_ready
from .artifacts_fetched import ExportRefused, FetchedArtifacts
from . import claims
from .buildboard import (CLAIMS, EXECUTORS, MAX_LOG_BYTES, REQUESTS, RESULTS, BuildOutcome,
                         BuildRequest, ExecutorInfo, build_of, read_sources)
from .buildlogs import tail_of
from .client import Trouble, connect
from .live_logs import LogServer

log = logging.getLogger("gateq")

LOOK_EVERY = 0.5             # seconds between looks at the requests when no watch fired
FETCH_TRIES = 3              # a build whose commits cannot be fetched is given back this often,
                             # then ends as a node failure (run again, not the change's fault)


@dataclass
class Claim:
    """A build this executor took: its request node, its claim's version,
    and its token for the artifact server."""
    request: str
    version: int
    started: bool = False
    token: str = ""


class ExecutorProcess:
    def __init__(self, config: Config, client, name: str, slots: int) -> None:
        from ..engine import make_sandbox
        self.config, self.zk, self.name, self.slots = config, client, name, slots
        self.inbox = Inbox()
        self.local = LocalExecutor(sandbox=make_sandbox(config), max_output=config.logs.max_output,
                                   run_dir=orphans.run_dir(config.state_dir))
        self.artifacts: FetchedArtifacts | None = None
        if config.layout.repositories:
            self.artifacts = FetchedArtifacts(config.state_dir,
                                              lambda build: self.builds.workspace_dir(build))
        self.builds = Builds(config, self.local, self.artifacts, config_change_url(config),
                             time.time, self.inbox, self.ended_early, self.put_off)
        # Its own repositories, filled from the scheduler's git daemon.
        self.builds.workspaces = Workspaces(config.state_dir, self.repo_path)
        self.fetches = Pool("fetch commits", self.inbox, slots)
        self.uploads = Pool("upload exports", self.inbox, slots)
        self.fetching: dict[str, threading.Lock] = {}   # one fetch at a time into a repository
        self.fetch_failures: dict[str, int] = {}
        self.claims: dict[str, Claim] = {}
        self.unsent: dict[str, tuple[Claim, BuildOutcome]] = {}   # results ZooKeeper did not take yet
        self.trouble = Trouble(f"executor {name}", "the builds go on, their results wait")
        self.woken = threading.Event()
        self.lost = False
        self.advertised: ExecutorInfo | None = None
        self.node = f"{EXECUTORS}/{name}"
        self.logs = LogServer(os.path.join(config.state_dir, "logs"),
                              *config.zookeeper.log_listen)

    def repo_path(self, project: str) -> str:
        return os.path.join(self.config.state_dir, "executor-git",
                            urllib.parse.quote(project, safe="") + ".git")

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        for build in orphans.kill_leftovers(self.config.state_dir):
            log.warning("killed build %s left running by a previous executor", build)
        self.builds.remove_leftovers()
        if self.artifacts:
            self.artifacts.remove_leftovers()
        for path in (REQUESTS, CLAIMS, RESULTS, EXECUTORS):
            self.zk.ensure_path(path)
        os.makedirs(self.logs.logs_dir, exist_ok=True)
        try:
            self.logs.start()
        except OSError as exc:
            host, port = self.config.zookeeper.log_listen
            raise StateError(f"cannot serve the builds' logs at {host}:{port} "
                             f"(zookeeper.log-listen): {exc.strerror or exc}") from None
        log.info("executor %s serves its builds' logs at %s", self.name, self.logs.url)
        self.zk.add_listener(self._session_changed)
        self.advertise()
        self.zk.ChildrenWatch(REQUESTS, self._requests_changed)
        log.info("executor %s taking builds, %d at once", self.name, self.slots)

    def _session_changed(self, state) -> None:
        if state == KazooState.LOST:
            self.lost = True                 # its claims are gone: others run its builds
        self.woken.set()

    def _requests_changed(self, children) -> bool:
        self.woken.set()
        return True

    def run(self, should_stop: Callable[[], bool]) -> None:
        next_look = 0.0
        while not should_stop():
            if self.lost:
                self.abandon("its ZooKeeper session ended")
            for answer in self.inbox.take():
                answer()
            for finished in self.local.poll():
                self.report(finished)
            now = time.monotonic()
            if self.woken.is_set() or now >= next_look:
                self.woken.clear()
                next_look = now + LOOK_EVERY
                self.trouble.look(lambda: (self.send_unsent(), self.look()))
            self.wait(0.2)

    def wait(self, timeout: float) -> None:
        wait_until_ready(lambda: self.woken.is_set() or self.inbox.ready.is_set(),
                         self.local.wait, timeout)

    def stop(self) -> None:
        """Stop every build (another executor runs them again) and go."""
        for build in list(self.claims):
            self.builds.cancel(build)
        deadline = time.monotonic() + 15
        while self.local.running() and time.monotonic() < deadline:
            self.local.wait(0.1)
            self.local.poll()
        self.fetches.stop(5)
        self.uploads.stop(5)
        self.logs.stop()
        self.builds.stop(5)
        self.local.shutdown()
        for build in list(self.claims):
            self.release(build)

    # -- taking requests ----------------------------------------------------------

    def look(self) -> None:
        requests = sorted(self.zk.get_children(REQUESTS))
        present = {build_of(r) for r in requests}
        for build, claim in list(self.claims.items()):
            if build not in present:         # withdrawn: cancelled, or no longer asked for
                log.info("build %s was withdrawn: stopping it", build)
                self.withdraw(build)
        for request in requests:
            if len(self.claims) >= self.slots:
                break
            build = build_of(request)
            if build not in self.claims:
                self.take(request, build)
        self.advertise()

    def take(self, request: str, build: str) -> None:
        if self.zk.exists(f"{RESULTS}/{build}"):
            return                           # ended, waiting for the scheduler to collect it
        taken = claims.take(self.zk, f"{REQUESTS}/{request}", f"{CLAIMS}/{build}", self.name)
        if taken is None:
            return                           # another executor's, or withdrawn
        data, version = taken
        claim = self.claims[build] = Claim(request, version)
        try:
            wanted = BuildRequest.decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            self.finish(build, BuildOutcome(JobResult.FAILURE, None,
                                            f"unreadable build request: {exc}", self.name))
            return
        if wanted.action.job not in self.config.layout.jobs:
            self.finish(build, BuildOutcome(
                JobResult.FAILURE, None, f"job {wanted.action.job} is not in this executor's "
                "layout (is its gateq.yaml the scheduler's?)", self.name))
            return
        log.info("executor %s took build %s (%s of %s)", self.name, build, wanted.action.job,
                 wanted.action.change.name)
        claim.started, claim.token = True, wanted.token
        self.fetches.submit(lambda: self.fetch(wanted))

    def fetch(self, wanted: BuildRequest) -> Answer:
        """On a fetch thread: the commits the build checks out, into this
        host's repositories, and its view of the artifacts."""
        action = wanted.action
        try:
            sources = read_sources(self.zk)
            for project, commit in self.builds.needed_commits(action).items():
                url = sources.git.get(project)
                if url is None:
                    raise GitError(f"the active scheduler serves no project {project}")
                with self.fetching.setdefault(project, threading.Lock()):
                    fetch_commits(self.repo_path(project), url, [commit])
            if self.artifacts:
                if sources.artifacts is None:
                    raise OSError("the active scheduler serves no artifacts")
                self.artifacts.fetch_view(sources.artifacts, action.build, wanted.token)
        except (GitError, OSError, KazooException, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            return lambda: self.not_fetched(action.build, reason)
        return lambda: self.begin(action)

    def not_fetched(self, build: str, reason: str) -> None:
        """Not the change's fault (the scheduler moved, the network): the
        build is given back, for any executor, a few times before it fails."""
        tries = self.fetch_failures[build] = self.fetch_failures.get(build, 0) + 1
        if tries < FETCH_TRIES:
            log.warning("executor %s: build %s: %s: giving it back", self.name, build, reason)
            self.release(build)
            return
        self.fetch_failures.pop(build, None)
        self.finish(build, BuildOutcome(          # run again, not counted against the change
            JobResult.NODE_FAILURE, None, f"cannot fetch the build's commits or view from the "
            f"scheduler: {reason}", self.name))

    def begin(self, action: act.StartBuild) -> None:
        if action.build in self.claims:      # not withdrawn while its commits came
            self.builds.start(action)
        elif self.artifacts:
            self.artifacts.discard(action.build)

    # -- ends ---------------------------------------------------------------------

    def ended_early(self, event: BuildCompleted) -> None:
        """A build that ended before it ran (noop, workspace refused)."""
        self.finish(event.build, BuildOutcome(event.result, 0.0, event.detail, self.name,
                                              self.read_log(event.build)))

    def put_off(self, action: act.StartBuild, reason: str) -> None:
        """This host's disk is full: give the build back for another executor."""
        log.warning("executor %s: %s: giving build %s back", self.name, reason, action.build)
        self.release(action.build)

    def report(self, finished: Finished) -> None:
        claim = self.claims.get(finished.build)
        if claim and self.exports(finished):
            self.uploads.submit(lambda: self.upload(finished, claim.token))
            return
        self.report_outcome(finished, finished.result, finished.error)

    def report_outcome(self, finished: Finished, result: JobResult, error: str | None) -> None:
        self.finish(finished.build, BuildOutcome(result, finished.duration, error, self.name,
                                                 self.read_log(finished.build)))
        self.builds.finished(finished.build)

    def exports(self, finished: Finished) -> bool:
        """A successful export build, whose artifacts/ the scheduler needs."""
        action = self.builds.running.get(finished.build)
        return bool(self.artifacts and action and finished.result is JobResult.SUCCESS
                    and self.config.layout.jobs[action.job].export)

    def upload(self, finished: Finished, token: str) -> Answer:
        """On an upload thread: artifacts/ to the scheduler, before the result."""
        build = finished.build
        artifacts_dir = os.path.join(self.builds.workspace_dir(build), "artifacts")
        try:
            self.artifacts.upload_patiently(lambda: read_sources(self.zk).artifacts, build, token,
                                            artifacts_dir)
        except ExportRefused as exc:
            reason = f"export rejected: {exc}"
            with open(self.builds.log_path(build), "a") as f:
                f.write(reason + "\n")
            return lambda: self.report_outcome(finished, JobResult.FAILURE, reason)
        except (OSError, KazooException, ValueError) as exc:
            reason = f"cannot upload the export to the scheduler: {exc or type(exc).__name__}"
            log.warning("executor %s: build %s: %s", self.name, build, reason)
            return lambda: self.report_outcome(finished, JobResult.NODE_FAILURE, reason)
        return lambda: self.report_outcome(finished, finished.result, finished.error)

    def finish(self, build: str, outcome: BuildOutcome) -> None:
        """Write the result if the claim is still ours; forget the build."""
        claim = self.claims.pop(build, None)
        if self.artifacts:
            self.artifacts.discard(build)
        if claim is not None:
            self.unsent[build] = (claim, outcome)
            self.send(build)

    def send(self, build: str) -> None:
        """One transaction: the claim still ours, the result made, the claim
        gone. ZooKeeper unreachable: kept, and sent again (the claim lives
        as long as the session); the claim lost: dropped."""
        claim, outcome = self.unsent[build]
        sent = claims.report(self.zk, f"{CLAIMS}/{build}", claim.version, f"{RESULTS}/{build}",
                             outcome.encode())
        if sent is claims.Sent.UNSENT:
            return                           # kept in unsent
        del self.unsent[build]
        if sent is claims.Sent.NOT_OURS:
            log.warning("executor %s: build %s is no longer this executor's: its result is "
                        "dropped", self.name, build)
            return
        log.info("executor %s: build %s %s", self.name, build, outcome.result.value)

    def send_unsent(self) -> None:
        for build in list(self.unsent):
            self.send(build)

    def withdraw(self, build: str) -> None:
        claim = self.claims.pop(build)
        if claim.started:
            self.builds.cancel(build)        # its end, when it comes, is not reported
        claims.release(self.zk, f"{CLAIMS}/{build}")

    def release(self, build: str) -> None:
        self.claims.pop(build, None)
        if self.artifacts:
            self.artifacts.discard(build)
        claims.release(self.zk, f"{CLAIMS}/{build}")

    def abandon(self, why: str) -> None:
        if self.claims:
            log.warning("executor %s: %s: stopping %d build(s)", self.name, why, len(self.claims))
        for build in list(self.claims):
            if self.claims[build].started:
                self.builds.cancel(build)
        self.claims.clear()
        self.unsent.clear()                  # their claims went with the session
        self.lost = False
        self.advertised = None
        try:
            self.advertise()
        except KazooException:
            pass

    def read_log(self, build: str) -> bytes:
        """The end that goes with the result (buildboard caps it again)."""
        return tail_of(self.builds.log_path(build), MAX_LOG_BYTES) or b""

    def advertise(self) -> None:
        """Its ephemeral node: capacity and load, for the scheduler and the web."""
        info = ExecutorInfo(self.name, self.slots, len(self.claims), self.logs.url)
        if info == self.advertised:
            return
        try:
            self.zk.set(self.node, info.encode())
        except NoNodeError:
            self.zk.create(self.node, info.encode(), ephemeral=True)
        self.advertised = info


def run_executor(config: Config, slots: int | None, should_stop: Callable[[], bool]) -> None:
    client = connect(config.zookeeper, patient=True)
    name = f"{socket.gethostname()}:{os.getpid()}"
    process = ExecutorProcess(config, client, name, slots or config.slots)
    try:
        process.start()
        process.run(should_stop)
    finally:
        try:
            process.stop()
        finally:
            client.stop()
            client.close()
