"""Starting the builds the scheduler asks for, and what follows their end.

A build gets a fresh workspace with a checkout, at its item's speculative
state, of each project it needs (`needed_commits`), made and removed by
git/workspace.py; the job's environment (the GATEQ_* variables and its
`vars`), the artifact views it may read, and its log. What changes together
is kept together: `workspace`, `environment`, `views`; `start` only strings
them along. A build that cannot be set up fails with the
reason in its log, unless the disk is full (then it is put off, retried).

The checkouts and the artifact views are made on threads of their own (a
Pool, workers.py): moving a kept checkout, or making the first one of a
project, takes from milliseconds to minutes, and a view of a 5,000-package
repository 0.1 s (bench/publish.py), for every build: the gate loop must
not wait for them. The start happens on the loop, when the pool answers
(the executor is the loop's); a build cancelled meanwhile is not started.
While any build is being prepared the garbage collector waits (`preparing`:
it must not run beside a view being written).

A job with a nodeset gets no checkouts here: the node receives each
project's tree from git (gateq/nodes), with the views, and the executor
brings its artifacts/ back into this workspace before it reports it.
"""
from __future__ import annotations

import os
from typing import Callable

from dataclasses import dataclass

from .config.model import Config
from .core import actions as act
from .core.events import BuildCompleted
from .core.types import Change, JobResult
from .executor import BuildSpec, LocalExecutor
from .git.repo import GitError, resolve
from .git.workspace import Prepared, Workspaces, pick_commits, remove_tree
from .nodes.work import NodeWork, Tree
from .state.diskfull import disk_full_reason
from .workers import Answer, Inbox, Pool

ChangeUrl = Callable[[str, str], "str | None"]       # (project, change ref) -> its page


@dataclass(frozen=True)
class Ready:
    """A build's workspace as the pool made it: its checkouts, its job's
    environment and the artifact views it reads."""
    prepared: Prepared
    env: dict[str, str]
    views: tuple[str, ...]


class Builds:
    """Invariant: `running` holds the StartBuild of every build being
    prepared or handed to the executor and not yet collected (their
    workspaces are in use); `preparing` those of them still in the pool."""

    def __init__(self, config: Config, executor: LocalExecutor, artifacts,
                 change_url: ChangeUrl, clock: Callable[[], float], inbox: Inbox,
                 ended: Callable[[BuildCompleted], None],
                 put_off: Callable[[act.StartBuild, str], None]) -> None:
        self.config = config
        self.executor = executor
        self.artifacts = artifacts           # publishing.Artifacts, or None
        self.change_url = change_url
        self.clock = clock
        self.ended = ended                   # journals a build that ended before it started
        self.put_off = put_off               # a full disk: the start is tried again later
        self.running: dict[str, act.StartBuild] = {}
        self.preparing: set[str] = set()
        self.cancelled: set[str] = set()     # cancelled while being prepared
        # As many threads as builds may run: one slow checkout holds up only its own build.
        self.pool = Pool("prepare workspaces", inbox, config.slots)
        self.workspaces = Workspaces(config.state_dir, config.repo_path)
        if config.nodes:
            executor.use_nodes(config.nodes)

    def workspace_dir(self, build: str) -> str:
        return self.workspaces.workspace_dir(build)

    def log_path(self, build: str) -> str:
        return os.path.join(self.config.state_dir, "logs", f"{build}.log")

    def start(self, action: act.StartBuild) -> None:
        """Prepare the build's workspace off the loop, then hand it to the
        executor; a noop ends at once."""
        job = self.config.layout.jobs[action.job]
        if job.run is None:                  # noop: Zuul's explicit "nothing to run"
            self.ended(BuildCompleted(self.clock(), action.build, JobResult.SUCCESS))
            return
        self.running[action.build] = action
        self.preparing.add(action.build)
        self.pool.submit(lambda: self.prepare(action))

    def prepare(self, action: act.StartBuild) -> Answer:
        """On a thread of the pool: the checkouts, the environment and the
        views; the answer starts the build on the loop."""
        trees: tuple[Tree, ...] = ()
        try:
            commits = self.needed_commits(action)
            if self.config.layout.jobs[action.job].nodeset:     # its trees go from git to the node
                trees = tuple(Tree(p, self.config.repo_path(p), c) for p, c in sorted(commits.items()))
                commits = {}
            prepared = self.workspaces.prepare(action.build, commits)
            workspace = self.workspace_dir(action.build)
            env = self.environment(action, workspace)
            ready: Ready | Exception = Ready(prepared, env, self.views(action, workspace, env))
        except (GitError, OSError) as exc:
            ready = exc
        return lambda: self.hand_over(action, ready, trees)

    def hand_over(self, action: act.StartBuild, ready: "Ready | Exception",
                  trees: tuple[Tree, ...] = ()) -> None:
        build = action.build
        self.preparing.discard(build)
        if build in self.cancelled:
            self.cancelled.discard(build)
            self.drop(build)
            self.ended(BuildCompleted(self.clock(), build, JobResult.CANCELLED))
            return
        workspace = self.workspace_dir(build)
        if isinstance(ready, Exception):
            self.drop(build)
            reason = disk_full_reason(ready)
            if reason:                       # not the change's fault: put off, retried
                self.put_off(action, reason)
            else:
                self.ended(self.cannot_start(build, f"workspace preparation failed: {ready}"))
            return
        prepared, env, views = ready.prepared, ready.env, ready.views
        job = self.config.layout.jobs[action.job]
        node = None
        if job.nodeset:
            node = NodeWork(job.nodeset.label, workspace, trees,
                            sends=tuple(os.path.relpath(v, workspace) for v in views)
                            + (("artifacts",) if "GATEQ_ARTIFACTS" in env else ()),
                            brings_back=("artifacts",) if "GATEQ_ARTIFACTS" in env else ())
        cwd = os.path.join(workspace, "src", action.change.project) if node else \
            prepared.checkouts.get(action.change.project, workspace)
        self.executor.start(BuildSpec(
            build=build, script=job.run, cwd=cwd, env=env,
            timeout=job.timeout, log_path=self.log_path(build), writable=(workspace,),
            readonly=views, overlays=prepared.overlays, node=node))

    def cancel(self, build: str) -> None:
        """A build still being prepared is not started (the executor has the others)."""
        if build in self.preparing:
            self.cancelled.add(build)
        else:
            self.executor.cancel(build)

    def drop(self, build: str) -> None:
        self.running.pop(build, None)
        self.remove_views(build)
        self.workspaces.remove(build)

    def stop(self, timeout: float) -> None:
        self.pool.stop(timeout)

    def needed_commits(self, action: act.StartBuild) -> dict[str, str]:
        """{project: commit} of what the build checks out: its own project,
        every project changed in its speculative chain (its batch included),
        and its job's required-projects, each at the item's speculative state
        (a required project outside the queue: its branch as it is)."""
        wanted = {action.change.project, *(c.project for c in action.more),
                  *(entry.rsplit(":", 1)[0] for entry in action.chain),
                  *self.config.layout.jobs[action.job].required_projects}
        wanted &= set(self.config.layout.projects)
        commits = pick_commits(tuple(s for s in action.state if s[0] in wanted),
                               self.branch_for(action))
        for project in wanted - commits.keys():
            branch = self.config.layout.projects[project].default_branch
            commit = resolve(self.config.repo_path(project), f"refs/heads/{branch}")
            if commit is None:
                raise GitError(f"required project {project} has no branch {branch}")
            commits[project] = commit
        return commits

    def cannot_start(self, build: str, reason: str) -> BuildCompleted:
        """The build fails with the reason in its log."""
        log_path = self.log_path(build)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "a") as f:
            f.write(reason + "\n")
        return BuildCompleted(self.clock(), build, JobResult.FAILURE, reason)

    def views(self, action: act.StartBuild, workspace: str, env: dict[str, str]
              ) -> tuple[str, ...]:
        """$GATEQ_REPOS (read-only for the build) and, for an export job, an
        empty $GATEQ_ARTIFACTS."""
        if not self.artifacts:
            return ()
        env["GATEQ_REPOS"] = os.path.join(workspace, "repos")
        self.artifacts.prepare_views(env["GATEQ_REPOS"], action.artifacts)
        if self.config.layout.jobs[action.job].export:
            env["GATEQ_ARTIFACTS"] = os.path.join(workspace, "artifacts")
            os.makedirs(env["GATEQ_ARTIFACTS"])
        return (env["GATEQ_REPOS"],)

    def branch_for(self, action: act.StartBuild) -> dict[str, str]:
        keys = {(p, b) for p, b, _ in action.state}
        return {p: (action.change.branch if (p, action.change.branch) in keys
                    else self.config.layout.projects[p].default_branch)
                for p, _ in keys if p in self.config.layout.projects}

    def environment(self, action: act.StartBuild, workspace: str) -> dict[str, str]:
        job = self.config.layout.jobs[action.job]
        change = action.change
        env = {str(k): str(v) for k, v in job.vars.items()}
        env.update({
            "GATEQ_WORKSPACE": workspace, "GATEQ_CONFIG_DIR": self.config.config_dir,
            "GATEQ_PROJECT": change.project, "GATEQ_BRANCH": change.branch,
            "GATEQ_CHANGE": change.ref, "GATEQ_PIPELINE": action.pipeline,
            "GATEQ_JOB": action.job, "GATEQ_ITEM": str(action.item), "GATEQ_BUILD": action.build,
            "GATEQ_CHANGES": " ".join(action.chain),
            "GATEQ_ITEM_CHANGES": " ".join(f"{c.project}:{c.ref}" for c in (change, *action.more)),
        })
        env.update(self.review_environment(change))
        # "1" for a control build: the job alone on the item's base (core/blame.py)
        env["GATEQ_CONTROL"] = "1" if getattr(action, "control", False) else ""
        return env

    def review_environment(self, change: Change) -> dict[str, str]:
        """The change as its review system names it; empty where it has no
        number (a plain ref of the git driver)."""
        number, patchset = change_number(change)
        url = change.url or self.change_url(change.project, change.ref)
        return {"GATEQ_CHANGE_NUMBER": "" if number is None else str(number),
                "GATEQ_PATCHSET": "" if patchset is None else str(patchset),
                "GATEQ_CHANGE_URL": url or ""}

    def check_export(self, build: str, result: JobResult) -> tuple[JobResult, str | None]:
        """A successful export build succeeds only if its artifacts are accepted."""
        action = self.running.get(build)
        job = self.config.layout.jobs[action.job] if action else None
        if result is not JobResult.SUCCESS or not job or not job.export or not self.artifacts:
            return result, None
        artifacts_dir = os.path.join(self.workspace_dir(build), "artifacts")
        try:
            rejected = self.artifacts.accept_export(action, artifacts_dir)
        except OSError as exc:
            rejected = f"cannot store the artifacts: {exc}"
        if rejected is None:
            return result, None
        with open(self.log_path(build), "a") as f:
            f.write(f"export rejected: {rejected}\n")
        return JobResult.FAILURE, f"export rejected: {rejected}"

    def finished(self, build: str) -> None:
        """The build was collected (nothing of it is left): its workspace goes."""
        self.drop(build)

    def remove_views(self, build: str) -> None:
        """A view's hard links go at once, not with its workspace: the
        collector counts them."""
        remove_tree(os.path.join(self.workspace_dir(build), "repos"))

    def remove_leftovers(self) -> int:
        """At a start no build runs: a workspace left is that of a build a
        killed engine had finished (its result journaled, its workspace not
        yet removed) or is about to run again (made anew then). Removed, so
        that the hard links its views hold keep nothing from the collector.
        Kept checkouts stay, but those of projects no longer configured."""
        work = self.workspaces.work
        for build in os.listdir(work) if os.path.isdir(work) else ():
            self.remove_views(build)
        return self.workspaces.remove_leftovers(set(self.config.layout.projects))

    def view_roots(self) -> list[str]:
        """The $GATEQ_REPOS of every build running (the collector keeps what they link)."""
        return [os.path.join(self.workspace_dir(b), "repos") for b in self.running]


def change_number(change: Change) -> tuple[int | None, int | None]:
    """(number, patch set) of a change, from the change itself or its
    refs/changes/NN/N/P ref (the layout Gerrit and the git driver share)."""
    number = change.number
    if number is not None:
        return number, change.patchset
    return ref_number(change.ref)


def ref_number(ref: str) -> tuple[int | None, int | None]:
    parts = ref.split("/")
    if len(parts) == 5 and parts[:2] == ["refs", "changes"] and parts[3].isdigit() \
            and parts[4].isdigit():
        return int(parts[3]), int(parts[4])
    return None, None
