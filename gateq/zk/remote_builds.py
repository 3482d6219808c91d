"""The active scheduler's side of builds run by executor processes
(`zookeeper.executors: true`): in place of builds.py and the local
executor, it posts build requests (buildboard.py), serves the commits they
need from a git daemon, and hands the engine the results executors wrote,
as the local executor's `poll` does. Nothing here blocks on a build.

A scheduler that takes over adopts what its predecessor asked for: build
ids are the same after a replay (item, generation, job), so a request that
is already there is kept, with the builds running on it, and one the
journal no longer asks for is withdrawn at the first poll.

With artifact repositories in the layout, builds see their views and send
their exports through this term's artifact server (artifacts_http.py),
advertised next to the git daemon; the token its request carries is the
build's key to it.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import Callable

from kazoo.exceptions import NodeExistsError, NoNodeError

from ..config.model import Config
from ..core import actions as act
from ..core.events import BuildCompleted
from ..core.types import JobResult
from ..executor import Finished
from ..git.daemon import GitDaemon
from .client import guard, where
from .buildboard import (CLAIMS, EXECUTORS, REQUESTS, RESULTS, SOURCES, BuildOutcome,
                         BuildRequest, ExecutorInfo, Sources, build_of, request_name)

log = logging.getLogger("gateq.engine")

NO_EXECUTOR_WARNING = 60.0     # seconds between warnings that builds wait for an executor


class RemoteBuilds:
    """Invariant: `running` holds the StartBuild of every build asked for
    and not yet collected; `requests` their request node names."""

    def __init__(self, config: Config, client, ended: Callable[[BuildCompleted], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.zk, self.ended, self.clock = config, client, ended, clock
        self.place = where(config.zookeeper)
        host, port = config.zookeeper.git_listen
        self.daemon = GitDaemon(host, port)
        self.served = self.server = None
        if config.layout.repositories:        # rpm tooling and aiohttp only where used
            from ..publishing import Artifacts
            from .artifacts_http import ArtifactServer
            from .artifacts_served import ServedArtifacts
            self.served = ServedArtifacts(config, Artifacts(config), lambda: self.woken.set())
            self.server = ArtifactServer(self.served, host, 0, self.daemon.advertised)
        self.running: dict[str, act.StartBuild] = {}
        self.requests: dict[str, str] = {}
        self.reported: set[str] = set()
        self.cancelled: list[str] = []
        self.leftovers: set[str] | None = None     # requests found at the start, until the first poll
        self.woken = threading.Event()
        self.warned_at = time.monotonic() - NO_EXECUTOR_WARNING + 10   # the first after 10 s
        self.executor = _ResultsPoll(self)
        self.watching = True
        self.results: list[str] = []         # the results' names, as the watch last saw them
        with guard(self.place, "prepare the build requests"):
            for path in (REQUESTS, CLAIMS, RESULTS, EXECUTORS):
                self.zk.ensure_path(path)
            self.zk.ChildrenWatch(RESULTS, self._results_changed)

    @property
    def preparing(self) -> set[str]:
        """The builds whose view is being made here (executors make the rest)."""
        return self.served.making() if self.served else set()

    def _results_changed(self, children) -> bool:
        self.results = list(children)        # the loop reads these, not ZooKeeper, each pass
        self.woken.set()
        return self.watching                 # False: this term is over, the watch ends

    # -- what the engine calls, as on builds.py -----------------------------

    def start(self, action: act.StartBuild) -> None:
        job = self.config.layout.jobs[action.job]
        if job.run is None:                  # noop: nothing to run anywhere
            self.ended(BuildCompleted(self.clock(), action.build, JobResult.SUCCESS))
            return
        dependent = self.config.layout.pipelines[action.pipeline].dependent
        name = request_name(action, dependent)
        token = secrets.token_urlsafe(24)
        with guard(self.place, f"ask for build {action.build}"):
            try:
                self.zk.create(f"{REQUESTS}/{name}", BuildRequest(action, token).encode())
            except NodeExistsError:          # asked for by the scheduler before: adopted
                token = self._adopted_token(name) or token
        if self.served:
            self.served.expect(action, token)
        self.running[action.build] = action
        self.requests[action.build] = name

    def _adopted_token(self, name: str) -> str | None:
        """The token of a request made by the scheduler before (its executor holds it)."""
        try:
            data, _ = self.zk.get(f"{REQUESTS}/{name}")
            return BuildRequest.decode(data).token
        except NoNodeError:
            return None

    def serve_sources(self) -> None:
        """This term's git daemon and artifact server, and where they serve."""
        paths = {p: self.config.repo_path(p) for p in self.config.layout.projects}
        self.daemon.start(sorted(set(paths.values())),
                          os.path.join(self.config.state_dir, "git-daemon.log"))
        if self.server:
            self.served.remove_leftovers()
            self.server.start()
            log.info("artifacts served to executors at %s", self.server.url)
        data = Sources({p: self.daemon.url(path) for p, path in paths.items()},
                       self.server.url if self.server else None).encode()
        with guard(self.place, "say where the commits are served"):
            try:
                self.zk.set(SOURCES, data)
            except NoNodeError:
                self.zk.create(SOURCES, data)

    def cancel(self, build: str) -> None:
        """Withdraw the request: the executor running it stops it."""
        if build in self.running and build not in self.reported:
            self._delete(build)
            if self.served:
                self.served.forget(build)
            self.cancelled.append(build)
            self.woken.set()

    def finished(self, build: str) -> None:
        """Its end is journaled: its nodes go."""
        self.running.pop(build, None)
        self.reported.discard(build)
        self._delete(build)
        self.requests.pop(build, None)
        if self.served:
            self.served.forget(build)

    def check_export(self, build: str, result: JobResult) -> tuple[JobResult, str | None]:
        """A successful export build succeeds only if its uploaded artifacts are accepted."""
        action = self.running.get(build)
        if (result is not JobResult.SUCCESS or action is None or not self.served
                or not self.served.exports(action)):
            return result, None
        return self.served.check_export(action, self.log_path(build))

    def log_path(self, build: str) -> str:
        return os.path.join(self.config.state_dir, "logs", f"{build}.log")

    def view_roots(self) -> list[str]:
        """The views being sent to executors (the collector keeps what they link)."""
        return self.served.view_roots() if self.served else []

    def remove_leftovers(self) -> int:
        """At the start of a term: what the predecessor asked for, kept for
        adoption until the journal has been replayed (the first poll)."""
        with guard(self.place, "read the build requests"):
            self.leftovers = set(self.zk.get_children(REQUESTS))
        self.serve_sources()                 # the adopted builds fetch from this term's daemon
        return 0

    def stop(self, timeout: float) -> None:
        """The builds go on, for the next scheduler to adopt; the commits'
        server goes with this term."""
        self.watching = False
        self.daemon.stop()
        if self.server:
            self.server.stop()
            self.served.close()

    # -- results ------------------------------------------------------------

    def poll(self) -> list[Finished]:
        with guard(self.place, "read the builds' results"):
            return self._poll()

    def _poll(self) -> list[Finished]:
        self.woken.clear()
        if self.served:
            self.served.make_views()         # here, on the loop: never beside the collector
        if self.leftovers is not None:
            asked = set(self.requests.values())
            for name in self.leftovers - asked:
                self._delete(build_of(name), name)
            self.leftovers = None
        done: list[Finished] = []
        while self.cancelled:
            build = self.cancelled.pop()
            self.reported.add(build)
            done.append(Finished(build, JobResult.CANCELLED, None, 0.0))
        for build in self.results:
            if build not in self.running or build in self.reported:
                if build not in self.running:
                    self._delete_node(f"{RESULTS}/{build}")   # of a build no longer asked for
                continue
            try:
                data, _ = self.zk.get(f"{RESULTS}/{build}")
            except NoNodeError:
                continue
            outcome = BuildOutcome.decode(data)
            self._write_log(build, outcome)
            self.reported.add(build)
            done.append(Finished(build, outcome.result, None, outcome.duration or 0.0,
                                 outcome.error))
        self._warn_if_alone()
        return done

    def _write_log(self, build: str, outcome: BuildOutcome) -> None:
        path = self.log_path(build)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(outcome.log)
            f.write(f"[gateq] ran on executor {outcome.executor}\n".encode())

    def _warn_if_alone(self) -> None:
        waiting = len(self.running) - len(self.reported)
        now = time.monotonic()
        if waiting and now - self.warned_at > NO_EXECUTOR_WARNING and not self.executors():
            self.warned_at = now
            log.warning("%d build(s) wait: no `gateq executor` is connected to ZooKeeper", waiting)

    def executors(self) -> list[ExecutorInfo]:
        """The executors connected now, with their capacity and load."""
        found = []
        for name in self.zk.get_children(EXECUTORS):
            try:
                data, _ = self.zk.get(f"{EXECUTORS}/{name}")
            except NoNodeError:
                continue
            found.append(ExecutorInfo.decode(name, data))
        return found

    def _delete(self, build: str, request: str | None = None) -> None:
        request = request or self.requests.get(build)
        if request:
            self._delete_node(f"{REQUESTS}/{request}")
        self._delete_node(f"{RESULTS}/{build}")

    def _delete_node(self, path: str) -> None:
        with guard(self.place, f"delete {path}"):
            try:
                self.zk.delete(path)
            except NoNodeError:
                pass


class _ResultsPoll:
    """The local executor's face, for the engine's loop: results to collect,
    and a wait that ends when an executor writes one."""

    def __init__(self, board: RemoteBuilds) -> None:
        self.board = board

    def poll(self) -> list[Finished]:
        return self.board.poll()

    def running(self) -> list[str]:
        return [b for b in self.board.running if b not in self.board.reported]

    def wait(self, timeout: float) -> None:
        self.board.woken.wait(timeout)

    def cancel(self, build: str) -> None:
        self.board.cancel(build)

    def shutdown(self, patience: float = 5.0) -> None:
        pass                                  # the builds are the executors'
