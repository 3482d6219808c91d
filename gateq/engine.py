"""The engine: wires the journal, the scheduler and the adapters together.

It decides nothing. It replays the journal into the scheduler, feeds it each
new event in journal order, and carries out the actions: merges and landings
through git, builds through the executor, reports into the store. Every
adapter answer is journaled before the scheduler sees it, so a restart
replays exactly the same decisions.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from typing import Callable

from .config.model import Config
from . import orphans, retention, sandbox
from .core import actions as act
from .core import checkpoint
from .core.events import BuildCompleted, Event, LandCompleted, MergeCompleted
from .core.snapshot import is_idle, live_builds, snapshot
from .core.types import JobResult, MergeFailure
from .executor import BuildSpec, LocalExecutor
from .git.land import LandingInterrupted, finish_interrupted, land_all
from .git.merger import BranchMissing, ChangeMissing, Merger, MergeConflict
from .git.repo import GitError
from .git.workspace import prepare_workspace
from .replay import replay, restore
from .state import DiskFull, SqliteStore
from .state.diskfull import DiskFullPause, disk_full_reason

log = logging.getLogger("gateq.engine")


class EngineBusy(Exception):
    """Another engine holds this state directory."""


RETRY_DISK_SECONDS = 1.0     # how often a paused engine checks whether space is back
EXPIRE_LOGS_SECONDS = 600.0  # how often old build logs and workspaces are looked for


class Engine:
    def __init__(self, config: Config, store: SqliteStore, clock: Callable[[], float] = time.time):
        self.config = config
        self.store = store
        self.clock = clock
        self.executor = LocalExecutor(sandbox=self.make_sandbox(), max_output=config.logs.max_output,
                                      run_dir=orphans.run_dir(config.state_dir))
        self.next_expiry = 0.0               # at the first loop pass, then every 10 minutes
        self.merger = Merger(config.repo_path)
        self.artifacts = None
        if config.layout.repositories:        # rpm tooling only where it is used
            from .publishing import Artifacts
            self.artifacts = Artifacts(config)
        self.builds: dict[str, act.StartBuild] = {}
        self.garbage_due = False            # a landing may have left unreachable artifacts
        self._lock = None
        self.pause = DiskFullPause(self.clock, RETRY_DISK_SECONDS)
        self.scheduler, self.cursor, self.pruned = restore(config, store)
        self.checkpointed = self.cursor

    def make_sandbox(self) -> sandbox.Sandbox | None:
        """Builds may not write to the state directory (the artifact store,
        other builds) nor the publish root; do_start opens their workspace."""
        found, warning = sandbox.choose(
            self.config.sandbox, (self.config.state_dir, self.config.publish_dir))
        if warning:
            log.warning("%s", warning)
        return found

    # -- lifecycle ----------------------------------------------------------

    def lock(self) -> None:
        """Hold the state directory: one engine at a time (EngineBusy otherwise)."""
        self._lock = open(os.path.join(self.config.state_dir, "engine.lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise EngineBusy(f"another gateq engine is running on {self.config.state_dir}") from None

    def start(self) -> None:
        """Replay the journal, resume what was in flight (lock() first)."""
        if self._lock is None:
            self.lock()
        for build in orphans.kill_leftovers(self.config.state_dir):
            log.warning("killed build %s left running by a previous engine", build)
        self.finish_landing()
        if self.artifacts:
            repaired = self.artifacts.recover()
            if repaired:
                log.warning("%s", repaired)
        for record in self.pruned:           # the layout changed while the engine was down
            if self.store.add_result(record.as_dict()):
                log_result(record.as_dict())
        replayed = 0
        first_new = self.scheduler.state.next_item
        for seq, actions in replay(self.scheduler, self.store, self.cursor):
            for action in actions:
                if isinstance(action, act.Report) and self.store.add_result(action.record.as_dict()):
                    log_result(action.record.as_dict())   # new: the engine stopped before reporting it
            self.cursor, replayed = seq, replayed + 1
        if replayed:
            log.info("read %d journal events recorded since the last checkpoint", replayed)
            self.log_enqueued(first_new)
        self.execute(self.scheduler.resume())
        self.publish_status()

    @property
    def landing_journal(self) -> str:
        return os.path.join(self.config.state_dir, "landing.json")

    def finish_landing(self) -> None:
        """A landing of several branches cut short is made whole before
        anything is published (git/land.py)."""
        done = finish_interrupted(self.config.repo_path, self.landing_journal)
        if done:
            log.warning("%s", done)

    def stop(self) -> None:
        self.executor.shutdown()
        if not self.pause.active:
            try:
                self.publish_status()
            except DiskFull:
                pass                  # the status is a cache; the journal holds the truth
        if self._lock:
            self._lock.close()
            self._lock = None

    def run(self, until_idle: bool, should_stop: Callable[[], bool] = lambda: False) -> None:
        while not should_stop():
            self.watch_free_space()
            if self.pause.active and not self.try_resume():
                self.collect_finished()
                self.executor.wait(min(0.2, RETRY_DISK_SECONDS))
                continue
            self.drain()
            self.collect_finished()
            self.drain()
            idle = self.idle()
            if idle and self.checkpointed != self.cursor:
                self.checkpoint()
                self.garbage_due = True          # what ejected items left, too
            elif self.cursor - self.checkpointed >= self.config.checkpoint_interval:
                self.checkpoint()                # busy: replay stays bounded by the interval
            if self.garbage_due:
                self.collect_garbage()
            self.expire_logs()
            if idle and until_idle:
                return
            self.executor.wait(0.05 if self.executor.running() else 0.2)

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
                                  running=set(self.executor.running()) | set(self.builds))
        if removed.paths or removed.failed:
            log.info("%s", removed.summary())

    def collect_finished(self) -> None:
        for finished in self.executor.poll():
            if finished.error:
                log.warning("build %s: %s", finished.build, finished.error)
            result, detail = self.check_export(finished.build, finished.result)
            self.record(BuildCompleted(self.clock(), finished.build, result, detail or finished.error,
                                       finished.duration))
            self.cleanup_workspace(finished.build)

    def idle(self) -> bool:
        return (not self.pause.active and is_idle(self.scheduler)
                and self.store.pending_count(self.cursor) == 0)

    # -- a full disk: pause, keep everything, resume ---------------------------

    def watch_free_space(self) -> None:
        """Like Zuul's executor governor: below state.min-free, take no new
        work, before a write fails half-way."""
        short = self.free_space_short()
        if short and not self.pause.active:
            self.pause.start(short)

    def free_space_short(self) -> str | None:
        try:
            stat = os.statvfs(self.config.state_dir)
        except OSError:
            return None
        free = stat.f_bavail * stat.f_frsize
        if free >= self.config.min_free:
            return None
        return (f"{self.config.state_dir}: {free // 1024} KiB free, less than state.min-free "
                f"({self.config.min_free // 1024} KiB)")

    def try_resume(self) -> bool:
        """Journal the answers held back and carry out the actions put off,
        in order; True once nothing is held any more."""
        if not self.pause.due() or self.free_space_short():
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
                self.log_enqueued(first_new)
                progressed = True
                if self.pause.active:
                    break
        if self.cursor != start and not self.pause.active:
            try:
                self.publish_status()
            except DiskFull as exc:
                self.pause.start(str(exc))

    def log_enqueued(self, first_new: int) -> None:
        for change_id in range(first_new, self.scheduler.state.next_item):
            item = self.scheduler.state.holders.get(change_id)
            if item is not None:
                change = next(m.change for m in item.members if m.id == change_id)
                joined = f", in the batch of item {item.id}" if change_id != item.id else ""
                log.info("item %d %s (%s) enqueued in %s, queue %s%s", change_id, change.name,
                         change.revision[:12], item.pipeline, item.queue, joined)

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

    def publish_status(self) -> None:
        status = snapshot(self.scheduler)
        status["cursor"] = self.cursor
        status["pending_events"] = self.store.pending_count(self.cursor)
        self.store.write_status(status)

    # -- adapters -------------------------------------------------------------

    def do_merge(self, action: act.PrepareMerge) -> None:
        try:
            state, base_commit, bases = self.merger.merge_item(action)
            event = MergeCompleted(self.clock(), action.item, action.generation, state, base_commit,
                                   bases=bases)
        except (MergeConflict, GitError) as exc:
            if disk_full_reason(exc):
                raise                          # not the change's fault: put off, retried
            event = MergeCompleted(self.clock(), action.item, action.generation,
                                   failure=MERGE_FAILURES.get(type(exc), MergeFailure.CONFLICT),
                                   reason=str(exc))
        self.record(event)

    def do_land(self, action: act.Land) -> None:
        def move_branch() -> tuple[bool, str | None]:
            try:
                return land_all(self.config.repo_path, action.moves, self.landing_journal)
            except LandingInterrupted:
                raise                          # some branches moved: finished at the next start
            except GitError as exc:
                return False, str(exc)
        if self.artifacts:
            ok, reason, snapshots = self.artifacts.land(action, move_branch)
            self.garbage_due |= bool(snapshots)   # a failed landing keeps an earlier one's due
        else:
            (ok, reason), snapshots = move_branch(), ()
        if ok:
            published = "".join(f", published {repo} snapshot {n}" for repo, n in snapshots)
            log.info("item %d landed %s on %s%s", action.item, ", ".join(c.name for c in action.changes),
                     ", ".join(f"{m.project}/{m.branch} as {m.new[:12]}" for m in action.moves), published)
        else:
            log.warning("item %d could not land on %s/%s: %s", action.item, action.project,
                        action.branch, reason)
        self.record(LandCompleted(self.clock(), action.item, action.generation, ok,
                                  action.new if ok else None, reason, snapshots))

    def do_start(self, action: act.StartBuild) -> None:
        job = self.config.layout.jobs[action.job]
        if job.run is None:                  # noop: Zuul's explicit "nothing to run"
            self.record(BuildCompleted(self.clock(), action.build, JobResult.SUCCESS))
            return
        workspace = os.path.join(self.config.state_dir, "work", action.build)
        log_path = os.path.join(self.config.state_dir, "logs", f"{action.build}.log")
        shutil.rmtree(workspace, ignore_errors=True)
        try:
            checkouts = prepare_workspace(workspace, action.state, self.config.repo_path,
                                          self.branch_for(action))
            env = self.job_env(action, workspace)
            views = ()
            if self.artifacts:
                env["GATEQ_REPOS"] = os.path.join(workspace, "repos")
                views = (env["GATEQ_REPOS"],)
                self.artifacts.prepare_views(env["GATEQ_REPOS"], action.artifacts)
                if job.export:
                    env["GATEQ_ARTIFACTS"] = os.path.join(workspace, "artifacts")
                    os.makedirs(env["GATEQ_ARTIFACTS"])
        except (GitError, OSError) as exc:
            if disk_full_reason(exc):
                raise                          # not the change's fault: put off, retried
            # The build cannot start: it fails with the reason in its log.
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            with open(log_path, "a") as f:
                f.write(f"workspace preparation failed: {exc}\n")
            self.record(BuildCompleted(self.clock(), action.build, JobResult.FAILURE,
                                       f"workspace preparation failed: {exc}"))
            return
        self.builds[action.build] = action
        self.executor.start(BuildSpec(
            build=action.build, script=job.run, cwd=checkouts.get(action.change.project, workspace),
            env=env, timeout=job.timeout, log_path=log_path,
            writable=(workspace,), readonly=views))

    def collect_garbage(self) -> None:
        """Remove the artifacts that no snapshot, running build's view or
        queued item reaches. Only from this loop: never while a view, a
        staging or an ingestion is being written. A failure is logged and
        retried at the next landing; the gate goes on."""
        self.garbage_due = False
        if not self.artifacts:
            return
        views = [os.path.join(self.config.state_dir, "work", b, "repos") for b in self.builds]
        try:
            collected = self.artifacts.collect_garbage(live_builds(self.scheduler), views)
        except (OSError, ValueError) as exc:      # ValueError: an unreadable set file
            log.warning("garbage collection failed, will retry: %s", exc)
            return
        if collected:
            log.info("garbage collection %s", collected.summary())

    def do_cancel(self, action: act.CancelBuild) -> None:
        self.executor.cancel(action.build)

    def do_report(self, action: act.Report) -> None:
        if self.store.add_result(action.record.as_dict()):
            log_result(action.record.as_dict())

    def branch_for(self, action: act.StartBuild) -> dict[str, str]:
        keys = {(p, b) for p, b, _ in action.state}
        return {p: (action.change.branch if (p, action.change.branch) in keys
                    else self.config.layout.projects[p].default_branch)
                for p, _ in keys if p in self.config.layout.projects}

    def job_env(self, action: act.StartBuild, workspace: str) -> dict[str, str]:
        job = self.config.layout.jobs[action.job]
        env = {str(k): str(v) for k, v in job.vars.items()}
        env.update({
            "GATEQ_WORKSPACE": workspace, "GATEQ_CONFIG_DIR": self.config.config_dir,
            "GATEQ_PROJECT": action.change.project, "GATEQ_BRANCH": action.change.branch,
            "GATEQ_CHANGE": action.change.ref, "GATEQ_PIPELINE": action.pipeline,
            "GATEQ_JOB": action.job, "GATEQ_ITEM": str(action.item), "GATEQ_BUILD": action.build,
            "GATEQ_CHANGES": " ".join(action.chain),
            "GATEQ_ITEM_CHANGES": "" if action.control else
                                  " ".join(f"{c.project}:{c.ref}" for c in (action.change, *action.more)),
            "GATEQ_CONTROL": "1" if action.control else "",
        })
        return env

    def check_export(self, build: str, result: JobResult) -> tuple[JobResult, str | None]:
        """A successful export build succeeds only if its artifacts are accepted."""
        action = self.builds.get(build)
        job = self.config.layout.jobs[action.job] if action else None
        if result is not JobResult.SUCCESS or not job or not job.export or not self.artifacts:
            return result, None
        artifacts_dir = os.path.join(self.config.state_dir, "work", build, "artifacts")
        try:
            rejected = self.artifacts.accept_export(action, artifacts_dir)
        except OSError as exc:
            rejected = f"cannot store the artifacts: {exc}"
        if rejected is None:
            return result, None
        with open(os.path.join(self.config.state_dir, "logs", f"{build}.log"), "a") as f:
            f.write(f"export rejected: {rejected}\n")
        return JobResult.FAILURE, f"export rejected: {rejected}"

    def cleanup_workspace(self, build: str) -> None:
        self.builds.pop(build, None)
        shutil.rmtree(os.path.join(self.config.state_dir, "work", build), ignore_errors=True)


def log_result(record: dict) -> None:
    """One line per finished item, as a maintainer would want to read it."""
    what = f"{record['result']}" + (f": {record['reason']}" if record.get("reason") else "")
    log.info("item %s %s:%s %s %s", record["item"], record["project"], record["change"],
             record["pipeline"], what)


# A missing change or branch is final wherever the item is; anything else the
# merger refuses is a conflict, which an item ahead leaving may undo.
MERGE_FAILURES = {ChangeMissing: MergeFailure.CHANGE_MISSING, BranchMissing: MergeFailure.BRANCH_MISSING}

EXECUTORS: dict[type, Callable[[Engine, object], None]] = {
    act.PrepareMerge: Engine.do_merge,
    act.Land: Engine.do_land,
    act.StartBuild: Engine.do_start,
    act.CancelBuild: Engine.do_cancel,
    act.Report: Engine.do_report,
}
