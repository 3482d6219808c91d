"""The nodes of gateq.yaml as a pool of slots: a build waits (in order of
arrival) for a node with its label and a free slot, then runs there on a
thread of its own (build.py); ended builds are collected by `poll`, as the
LocalExecutor's are, from the engine loop, which alone calls the pool.

A node that failed a build recently is given builds only when no other
node with the label has a free slot, so the build's re-run (the core runs
it again under a new id) goes elsewhere if it can.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..buildlog import open_log
from ..config.model import NodeSettings
from ..core.types import JobResult
from ..executor import BuildSpec, Finished, footer
from .build import NodeBuild
from .connection import NodeConnection

SUSPECT_SECONDS = 60.0     # how long a node that failed a build is tried last


@dataclass
class _Node:
    settings: NodeSettings
    connection: NodeConnection
    builds: set[str] = field(default_factory=set)
    failed_at: float | None = None

    def free(self) -> bool:
        return len(self.builds) < self.settings.slots


class NodePool:
    """Invariant: a build is in `running()` from `start` until `poll`
    reports it, exactly once; it holds a slot of one node from the moment
    it is given one until it is reported."""

    def __init__(self, nodes: tuple[NodeSettings, ...], wake: threading.Event, *,
                 max_output: int, kill_grace: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._nodes = [_Node(n, NodeConnection(n)) for n in nodes]
        self._wake, self._max_output, self._kill_grace = wake, max_output, kill_grace
        self._clock = clock
        self._waiting: list[BuildSpec] = []        # without a node yet
        self._running: dict[str, tuple[NodeBuild, _Node]] = {}
        self._done: list[Finished] = []
        self._lock = threading.Lock()              # _done, appended to by the builds' threads

    def start(self, spec: BuildSpec) -> None:
        if spec.build in self._running or any(s.build == spec.build for s in self._waiting):
            raise ValueError(f"build {spec.build} is already running")
        self._waiting.append(spec)
        self._dispatch()

    def cancel(self, build: str, grace: float | None = None) -> None:
        """A waiting build ends at once (CANCELLED); a running one is stopped on its node."""
        waiting = next((s for s in self._waiting if s.build == build), None)
        if waiting is not None:
            self._waiting.remove(waiting)
            self._finish_waiting(waiting, "cancelled while waiting for a node")
        elif build in self._running:
            self._running[build][0].cancel(grace)

    def poll(self) -> list[Finished]:
        with self._lock:
            done, self._done = self._done, []
        for finished in done:
            _, node = self._running.pop(finished.build, (None, None))
            if node is not None:
                node.builds.discard(finished.build)
                if finished.result is JobResult.NODE_FAILURE:
                    node.failed_at = self._clock()
        if done:
            self._dispatch()
        return done

    def running(self) -> list[str]:
        return [s.build for s in self._waiting] + list(self._running)

    def ready(self) -> bool:
        with self._lock:
            return bool(self._done)

    def shutdown(self, patience: float) -> None:
        """Stop every build (SIGKILL on their nodes at once), waiting at most
        `patience` seconds; a later `poll` reports them."""
        for spec in list(self._waiting):
            self.cancel(spec.build)
        for build, _ in list(self._running.values()):
            build.cancel(grace=0.0)
        end = time.monotonic() + patience
        for build, _ in list(self._running.values()):
            build.thread.join(max(0.0, end - time.monotonic()))
        for node in self._nodes:        # a build still running ends with its connection
            node.connection.close()

    # -- giving builds nodes ------------------------------------------------------

    def _dispatch(self) -> None:
        for spec in list(self._waiting):
            node = self._pick(spec.node.label)
            if node is None:
                continue                    # it waits; a later one may have another label
            self._waiting.remove(spec)
            build = NodeBuild(spec, node.connection, self._report, self._wake,
                              self._max_output, self._kill_grace)
            node.builds.add(spec.build)
            self._running[spec.build] = (build, node)
            build.start()

    def _pick(self, label: str) -> _Node | None:
        """A node with the label and a free slot: first those that have not
        failed lately, then the least busy."""
        now = self._clock()
        free = [n for n in self._nodes if label in n.settings.labels and n.free()]
        return min(free, default=None, key=lambda n: (
            n.failed_at is not None and now - n.failed_at < SUSPECT_SECONDS,
            len(n.builds) / n.settings.slots))

    def _report(self, finished: Finished) -> None:
        with self._lock:
            self._done.append(finished)
        self._wake.set()

    def _finish_waiting(self, spec: BuildSpec, reason: str) -> None:
        try:
            log = open_log(spec.log_path, spec.build)
            log.write(f"=== {reason} ===\n{footer(spec.build, JobResult.CANCELLED, 0.0)}".encode())
            log.close()
        except OSError:
            pass                            # nothing ran: the log is only a courtesy
        self._report(Finished(spec.build, JobResult.CANCELLED, None, 0.0))
