"""The engine: wires the journal, the scheduler and the adapters together.

It decides nothing. It replays the journal into the scheduler, feeds it each
new event in journal order, and carries out the actions: merges through
git, builds through the executor (builds.py), landings through the
connections (landing.py), checks and reports through the review systems
(review/hub.py). What may block runs off the loop and comes back as an
answer the loop journals (workers.py). Every adapter answer is journaled
before the scheduler sees it, so a restart replays exactly the same
decisions.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable

from . import orphans, retention, sandbox, takeover
from .acceptance import Acceptances
from .builds import Builds
from .config.model import Config
from .core import actions as act
from .core import checkpoint, lookups
from .core.events import Event
from .core.snapshot import is_idle, live_builds
from .core.types import Change
from .executor import LocalExecutor
from .git.repo import GitError
from .itemlog import log_enqueued, log_result
from .landing import Landed, Landing, Landings, completion
from .merges import merges_for
from .replay import replay, restore
from .review.connections import Connections
from .review.hub import ReviewHub, build_page, config_change_url
from .state import DiskFull, SqliteStore
from .state.dirlock import StateDirLock
from .state.diskfull import DiskFullPause, disk_full_reason
from .status import StatusWriter
from .workers import Inbox, wait_until_ready

log = logging.getLogger("gateq.engine")


MAX_REQUESTED = 512         # builds asked of executor processes at once
RETRY_DISK_SECONDS = 1.0     # how often a paused engine checks whether space is back
EXPIRE_LOGS_SECONDS = 600.0  # how often old build logs and workspaces are looked for


class Engine:
    """`executors`: a ZooKeeper client when builds run on `gateq executor`
    processes (zookeeper.executors), which then ask for up to
    MAX_REQUESTED builds at once; else they run here, `executor.slots` at once."""

    def __init__(self, config: Config, store: SqliteStore, clock: Callable[[], float] = time.time,
                 connections: Connections | None = None, executors=None):
        if executors is not None:
            config = dataclasses.replace(config, slots=MAX_REQUESTED)
        self.config, self.store, self.clock = config, store, clock
        self.connections = connections or Connections.build(config)
        self.artifacts = None
        if config.layout.repositories:        # rpm tooling only where it is used
            from .publishing import Artifacts
            self.artifacts = Artifacts(config)
        change_url = config_change_url(config)
        self.inbox = Inbox()
        # Below state.min-free, like Zuul's executor governor, no new work.
        self.pause = DiskFullPause(clock, RETRY_DISK_SECONDS, config.state_dir, config.min_free)
        if executors is not None:
            from .zk.remote_builds import RemoteBuilds
            self.builds = RemoteBuilds(config, executors, self.record, clock)
            self.executor = self.builds.executor
        else:
            self.executor = LocalExecutor(sandbox=make_sandbox(config),
                                          max_output=config.logs.max_output,
                                          run_dir=orphans.run_dir(config.state_dir))
            self.builds = Builds(config, self.executor, self.artifacts, change_url, clock,
                                 self.inbox, self.record, self.put_off)
        self.merges = merges_for(config, executors, self.connections.repo_path, self.inbox,
                                 self.record, self.put_off, clock)
        self.acceptances = Acceptances(self.builds, self.inbox, self.record, clock)
        self.landing = Landing(self.connections, self.artifacts,
                               os.path.join(config.state_dir, "landing.json"), self.success_votes)
        self.landings = Landings(self.landing, self.inbox, self.landed, self.put_off)
        self.review = ReviewHub(config, store, self.connections, self.inbox, self.record,
                                self.queued, self.pause.start, self.log_location, clock)
        self.next_expiry = 0.0               # at the first loop pass, then every 10 minutes
        self.status = StatusWriter(store, self.review, self.connections, change_url, clock)
        self.garbage_due = False            # a landing may have left unreachable artifacts
        self._lock = StateDirLock(config.state_dir)
        self.scheduler, self.cursor, self.pruned = restore(config, store)
        self.checkpointed = self.cursor

    # -- lifecycle ----------------------------------------------------------

    def lock(self) -> None:
        """Hold the state directory: one engine at a time (EngineBusy otherwise)."""
        self._lock.take()

    def start(self) -> None:
        """Replay the journal, resume what was in flight, start listening (lock() first)."""
        if not self._lock.held:
            self._lock.take()
        for build in orphans.kill_leftovers(self.config.state_dir):
            log.warning("killed build %s left running by a previous engine", build)
        if self.builds.remove_leftovers():
            log.info("removed the workspaces a previous engine left")
        self.finish_landing()
        if self.artifacts:
            repaired = self.artifacts.recover()
            if repaired:
                log.warning("%s", repaired)
        for record in self.pruned:           # the layout changed while the engine was down
            self.report_record(record.as_dict())
        self.replay_journal()
        self.merge_what_is_missing()
        self.execute(self.scheduler.resume())
        self.merges.resumed()
        self.review.start()
        self.publish_status()

    def replay_journal(self) -> None:
        replayed = 0
        first_new = self.scheduler.state.next_item
        for seq, actions in replay(self.scheduler, self.store, self.cursor):
            for action in actions:
                if isinstance(action, act.Report):
                    self.report_record(action.record.as_dict())  # new: stopped before reporting it
                elif isinstance(action, act.ReportStart):
                    self.review.report_start(action)           # queued once, by its key
            self.cursor, replayed = seq, replayed + 1
        if replayed:
            log.info("read %d journal events recorded since the last checkpoint", replayed)
            log_enqueued(self.scheduler.state, first_new)

    def merge_what_is_missing(self) -> None:
        """Taking over on another host: the published snapshots' files its
        artifact store lacks are taken from them, the changes its mirror
        lacks are fetched, and the items whose speculative commits or
        accepted exports it lacks are merged and built again (takeover.py)."""
        if self.artifacts:
            takeover.adopt_published(self.artifacts)
        lost = takeover.work_lost(self.scheduler, self.connections, self.artifacts, self.clock())
        if lost:
            self.record(lost)
            self.drain()

    def finish_landing(self) -> None:
        """A landing of several branches cut short is made whole before
        anything is published (landing.py)."""
        done = self.landing.finish_interrupted()
        if done:
            log.warning("%s", done)

    def stop(self) -> None:
        """Stop every lane and build; the state directory is let go whatever
        fails on the way (a term that lost ZooKeeper cannot write its status)."""
        try:
            self.review.stop()
            self.merges.stop(10.0)
            self.landings.stop(10.0)
            self.acceptances.stop(10.0)
            self.builds.stop(10.0)
            self.executor.shutdown()
            if not self.pause.active:
                try:
                    self.publish_status()
                except DiskFull:
                    pass              # the status is a cache; the journal holds the truth
        finally:
            self._lock.release()

    def run(self, until_idle: bool, should_stop: Callable[[], bool] = lambda: False) -> None:
        while not should_stop():
            self.pause.watch()
            if self.pause.active and not self.try_resume():
                self.collect_finished()
                self.executor.wait(min(0.2, RETRY_DISK_SECONDS))
                continue
            self.take_answers()
            self.review.poll()
            self.landings.poll()
            self.drain()
            self.collect_finished()
            self.take_answers()
            self.drain()
            idle = self.idle()
            if idle and self.checkpointed != self.cursor:
                self.checkpoint()
                self.garbage_due = True          # what ejected items left, too
            elif self.cursor - self.checkpointed >= self.config.checkpoint_interval:
                self.checkpoint()                # busy: replay stays bounded by the interval
            if self.garbage_due and self.store_at_rest():
                self.collect_garbage()
            self.expire_logs()
            self.publish_due_status(idle)
            self.watch_connections()
            if idle and until_idle:
                return
            self.wait(0.05 if self.executor.running() or not idle else 0.2)

    def wait(self, timeout: float) -> None:
        """Until a build may have ended, an answer came, or `timeout`."""
        wait_until_ready(self.inbox.ready.is_set, self.executor.wait, timeout)

    def checkpoint(self) -> None:
        """Save the whole scheduler state at the cursor; the journal up to it is cut."""
        try:
            self.store.checkpoint(self.cursor, checkpoint.save(self.scheduler.state))
        except DiskFull as exc:
            self.pause.start(str(exc))
            return
        self.checkpointed = self.cursor

    def expire_logs(self) -> None:
        """Now and then, remove build logs and leftover workspaces past `logs:`."""
        now = self.clock()
        if now < self.next_expiry:
            return
        self.next_expiry = now + EXPIRE_LOGS_SECONDS
        removed = retention.apply(self.config.state_dir, now, self.config.logs,
                                  running=set(self.executor.running()) | set(self.builds.running))
        if removed.paths or removed.failed:
            log.info("%s", removed.summary())

    def collect_finished(self) -> None:
        for finished in self.executor.poll():
            self.acceptances.submit(finished)

    def take_answers(self) -> None:
        """Run what the lanes answered (they journal through `record`)."""
        for answer in self.inbox.take():
            answer()

    def idle(self) -> bool:
        return (not self.pause.active and is_idle(self.scheduler)
                and self.store.pending_count(self.cursor) == 0 and not self.review.busy()
                and not self.landings.in_flight and not self.builds.preparing
                and not self.merges.busy and not self.acceptances.busy)

    def store_at_rest(self) -> bool:
        """No landing stages, no export is ingested and no view is made (the
        builds being prepared): the collector may run."""
        return (not self.landings.in_flight and not self.acceptances.busy
                and not self.builds.preparing)

    # -- a full disk: pause, keep everything, resume ---------------------------

    def try_resume(self) -> bool:
        """Journal the answers held back and carry out the actions put off,
        in order; True once nothing is held any more."""
        if not self.pause.due() or self.pause.space_short() or self.landings.in_flight:
            return False
        held, deferred = self.pause.take()
        for event in held:
            self.record(event)
        if deferred and not self.pause.active:
            self.finish_landing()           # a landing cut short by the full disk
        if self.artifacts and deferred and not self.pause.active:
            self.artifacts.recover()
        self.execute(deferred)
        if self.pause.active:
            return False
        log.info("disk space is back: the engine goes on")
        return True

    # -- event flow -----------------------------------------------------------

    def record(self, event: Event) -> None:
        """Journal an adapter's answer; on a full disk hold it, in order."""
        if self.pause.active:
            self.pause.hold(event)
            return
        try:
            self.store.append(event)
        except DiskFull as exc:
            self.pause.start(str(exc))
            self.pause.hold(event)

    def drain(self) -> None:
        """Feed every journaled event the scheduler has not seen, in order."""
        start = self.cursor
        progressed = True
        while progressed and not self.pause.active:
            progressed = False
            for seq, event in self.store.events_after(self.cursor):
                self.cursor = seq
                first_new = self.scheduler.state.next_item
                self.execute(self.scheduler.step(event))
                log_enqueued(self.scheduler.state, first_new)
                progressed = True
                if self.pause.active:
                    break
        if self.cursor != start:
            self.status.moved()               # written by publish_due_status, at most so often

    def execute(self, actions: list[act.Action]) -> None:
        """Carry out actions in order; on a full disk put off the rest."""
        for index, action in enumerate(actions):
            if self.pause.active:
                self.pause.defer(actions[index:])
                return
            try:
                EXECUTORS[type(action)](self, action)
            except (DiskFull, OSError, GitError) as exc:
                reason = disk_full_reason(exc)
                if reason is None:
                    raise
                self.pause.start(reason)
                self.pause.defer(actions[index:])
                return

    # -- the status snapshot --------------------------------------------------

    def publish_status(self) -> None:
        self.status.write(self.scheduler, self.cursor)

    def publish_due_status(self, idle: bool) -> None:
        if self.status.due(idle) and not self.pause.active:
            try:
                self.publish_status()
            except DiskFull as exc:
                self.pause.start(str(exc))

    def watch_connections(self) -> None:
        """A connection that went down or came up is shown without waiting
        for the next journal event."""
        if not self.pause.active and self.status.connections_moved():
            try:
                self.publish_status()
            except DiskFull as exc:
                self.pause.start(str(exc))

    # -- adapters -------------------------------------------------------------

    def landed(self, action: act.Land, landed: Landed) -> None:
        """The landing lane's answer, on the loop."""
        if landed.snapshots and self.store_at_rest():
            self.collect_garbage()           # what the snapshots it pruned held (again when idle)
        self.record(completion(action, landed, self.clock()))

    def put_off(self, action: act.Action, reason: str) -> None:
        """The disk filled while a merge, a landing or a build's workspace
        was made: it is carried out again once space is back."""
        self.pause.start(reason)
        self.pause.defer([action])

    def success_votes(self, item: int, connection: str) -> tuple[tuple[str, int], ...]:
        return lookups.success_votes(self.config.layout, self.scheduler.state, item, connection)

    def collect_garbage(self) -> None:
        """Remove the artifacts that no snapshot, running build's view or
        queued item reaches. Only from this loop, and never while a landing
        is under way: never while a view, a staging or an ingestion is being
        written. A failure is logged and retried at the next landing; the
        gate goes on."""
        self.garbage_due = False
        if not self.artifacts:
            return
        try:
            collected = self.artifacts.collect_garbage(live_builds(self.scheduler),
                                                       self.builds.view_roots())
        except (OSError, ValueError) as exc:      # ValueError: an unreadable set file
            log.warning("garbage collection failed, will retry: %s", exc)
            return
        if collected:
            log.info("garbage collection %s", collected.summary())

    def report_record(self, record: dict) -> None:
        if self.review.report_result(record):
            log_result(record)

    def queued(self, pipeline: str, change: Change) -> bool:
        return lookups.holds_change(self.scheduler.state, pipeline, change)

    def log_location(self, build: str) -> str:
        """Where a report says a build's log is: its page, else the file."""
        return build_page(self.config, build) or self.builds.log_path(build)


def make_sandbox(config: Config) -> sandbox.Sandbox | None:
    """Builds may not write to the state directory (the artifact store,
    other builds) nor the publish root; builds.py opens their workspace."""
    found, warning = sandbox.choose(config.sandbox, (config.state_dir, config.publish_dir))
    if warning:
        log.warning("%s", warning)
    return found


# Which adapter carries out each action the scheduler decides.
EXECUTORS: dict[type, Callable[[Engine, object], None]] = {
    act.PrepareMerge: lambda engine, action: engine.merges.submit(action),
    act.Land: lambda engine, action: engine.landings.submit(action),
    act.StartBuild: lambda engine, action: engine.builds.start(action),
    act.CancelBuild: lambda engine, action: engine.builds.cancel(action.build),
    act.Report: lambda engine, action: engine.report_record(action.record.as_dict()),
    act.CheckChange: lambda engine, action: engine.review.check(action),
    act.ReportStart: lambda engine, action: engine.review.report_start(action),
}
