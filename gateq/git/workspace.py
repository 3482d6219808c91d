"""Build workspaces: $GATEQ_WORKSPACE/src/<project> for each project a build
needs, at the commit its speculative state gives it, and their removal.

Where overlayfs can be mounted, a build's checkout is a layer of its own
over a checkout kept per project (checkouts.py): made in the time its change
touches, whatever the repository's size; the layer also holds the difference
when the kept checkout lent is at another commit than the build's. Elsewhere each project is a
`--shared` clone (a few files plus a full checkout), which also sees the
merge commits the merger wrote into the source repository.
Trees are removed through the Trash, off the gate loop.
"""
from __future__ import annotations

import enum
import logging
import os
import queue
import shutil
import stat
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..core.types import SpecState
from ..sandbox import Overlay, mountable, probe_overlays
from .checkouts import KeptCheckouts, Lease
from .layers import whiteouts_allowed
from .repo import GitError, git

log = logging.getLogger("gateq.workspace")
# Under <state>/layers, beside the builds' own: the differences laid over kept
# checkouts, shared by the builds of a commit (no build id starts with a dot).
SHARED = ".shared"


class WorkspaceMode(enum.Enum):
    OVERLAY = "overlays on kept checkouts"
    CLONE = "a shared clone per project"


@dataclass
class Prepared:
    """A build's checkouts ({project: path}); `overlays` to mount for it."""
    checkouts: dict[str, str]
    overlays: tuple[Overlay, ...] = ()
    leases: list[Lease] = field(default_factory=list)


class Workspaces:
    """<state>/work/<build> (its $GATEQ_WORKSPACE), <state>/layers/<build>
    (its overlays' own layers), <state>/checkouts (kept, checkouts.py) and
    <state>/layers/.shared (differences laid over them, also checkouts.py).
    Invariant: a build's leases are given back only once it is removed, that
    is once none of its processes (nor its mounts) is left."""

    def __init__(self, state_dir: str, repo_path: Callable[[str], str],
                 mode: WorkspaceMode | None = None) -> None:
        self.work = os.path.join(state_dir, "work")
        self.layers = os.path.join(state_dir, "layers")
        self.trash = Trash(os.path.join(state_dir, "trash"))
        self.kept = KeptCheckouts(os.path.join(state_dir, "checkouts"), repo_path, self.trash.throw,
                                  os.path.join(self.layers, SHARED))
        self.repo_path = repo_path
        self._mode = mode                # None: probed at the first build
        self._prepared: dict[str, Prepared] = {}
        self._lock = threading.Lock()
        self._probing = threading.Lock()

    def workspace_dir(self, build: str) -> str:
        return os.path.join(self.work, build)

    @property
    def mode(self) -> WorkspaceMode:
        """Overlays if they can be mounted here, tried once; which one is logged."""
        with self._probing:                # builds are prepared on several threads
            return self._probe()

    def _probe(self) -> WorkspaceMode:
        if self._mode is None:
            scratch = os.path.join(self.layers, f".probe-{uuid.uuid4().hex}")
            why = probe_overlays(scratch)
            self.kept.layering = not why and whiteouts_allowed(scratch)
            self.trash.throw(scratch)
            self._mode = WorkspaceMode.CLONE if why else WorkspaceMode.OVERLAY
            log.info("build workspaces: %s%s", self._mode.value, f" ({why})" if why else "")
        return self._mode

    def prepare(self, build: str, commits: dict[str, str]) -> Prepared:
        """The build's workspace with a checkout of each project at its commit."""
        workspace = self.workspace_dir(build)
        self.remove(build)
        os.makedirs(workspace)
        if self.mode is WorkspaceMode.OVERLAY and mountable(workspace):
            prepared = self._overlaid(build, commits)
        else:
            prepared = Prepared(clone_projects(workspace, commits, self.repo_path))
        with self._lock:
            self._prepared[build] = prepared
        return prepared

    def _overlaid(self, build: str, commits: dict[str, str]) -> Prepared:
        prepared = Prepared({})
        overlays = []
        try:
            for n, (project, commit) in enumerate(sorted(commits.items())):
                target = os.path.join(self.workspace_dir(build), "src", project)
                layer = os.path.join(self.layers, build, str(n))
                upper, work = os.path.join(layer, "upper"), os.path.join(layer, "work")
                for path in (target, upper, work):
                    os.makedirs(path)
                lease = self.kept.lend(project, commit)
                prepared.leases.append(lease)
                overlays.append(Overlay(lease.path, upper, work, target,
                                        (lease.layer,) if lease.layer else ()))
                prepared.checkouts[project] = target
        except BaseException:
            for lease in prepared.leases:
                self.kept.give_back(lease)
            raise
        prepared.overlays = tuple(overlays)
        return prepared

    def remove(self, build: str) -> None:
        """The build is over (none of its processes is left): its trees go."""
        with self._lock:
            prepared = self._prepared.pop(build, None)
        self.trash.throw(self.workspace_dir(build))
        self.trash.throw(os.path.join(self.layers, build))
        for lease in prepared.leases if prepared else ():
            self.kept.give_back(lease)

    def remove_leftovers(self, projects: set[str]) -> int:
        """At a start no build runs: every workspace left goes (how many were
        left is returned), kept checkouts of unknown projects too."""
        self.trash.empty()
        self.kept.prune(projects)
        left = 0
        for root in (self.work, self.layers):
            names = os.listdir(root) if os.path.isdir(root) else []
            for name in names:
                self.trash.throw(os.path.join(root, name))
            left += len(names) if root == self.work else 0
        return left


class Trash:
    """Removing a tree takes as long as it has files: thrown trees are renamed
    into the trash at once (same filesystem) and removed by a thread of its
    own. Nothing waits for that; what a stopped engine left goes at the next start."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._queue: "queue.SimpleQueue[str]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def throw(self, path: str) -> None:
        os.makedirs(self.root, exist_ok=True)
        moved = os.path.join(self.root, uuid.uuid4().hex)
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return
        except OSError:                  # another filesystem: removed here and now
            remove_tree(path)
            return
        self._later(moved)

    def empty(self) -> None:
        """What is in the trash (left by a stopped engine) goes, later."""
        for name in os.listdir(self.root) if os.path.isdir(self.root) else ():
            self._later(os.path.join(self.root, name))

    def _later(self, path: str) -> None:
        self._queue.put(path)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="trash", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            remove_tree(self._queue.get())


def remove_tree(path: str) -> None:
    """rmtree, also through directories left without permissions (the work
    directory overlayfs leaves when unprivileged)."""
    def unlock(function, failed, info) -> None:
        if not isinstance(info[1], PermissionError):
            return                        # gone already, or not ours to force
        for target in (os.path.dirname(failed), failed):
            try:
                os.chmod(target, stat.S_IRWXU)
            except OSError:
                pass
        shutil.rmtree(failed, ignore_errors=True) if os.path.isdir(failed) else function(failed)
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=unlock)


def clone_projects(dest: str, commits: dict[str, str], repo_path: Callable[[str], str]
                   ) -> dict[str, str]:
    """A `--shared` clone of each project at dest/src/<project>, HEAD detached
    at its commit; {project: checkout path}."""
    checkouts = {}
    for project, commit in commits.items():
        target = os.path.abspath(os.path.join(dest, "src", project))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        git(os.path.dirname(target), "clone", "--quiet", "--shared", "--no-checkout",
            os.path.abspath(repo_path(project)), target)
        git(target, "checkout", "--quiet", "--detach", commit)
        checkouts[project] = target
    return checkouts


def prepare_workspace(dest: str, state: SpecState, repo_path: Callable[[str], str],
                      branch_for: dict[str, str] | None = None) -> dict[str, str]:
    """Clone every project of `state` to dest/src/<project> at its state commit."""
    return clone_projects(dest, pick_commits(state, branch_for or {}), repo_path)


def pick_commits(state: SpecState, branch_for: dict[str, str]) -> dict[str, str]:
    """One commit per project; `branch_for` settles projects with several branches."""
    by_project: dict[str, dict[str, str]] = {}
    for project, branch, commit in state:
        by_project.setdefault(project, {})[branch] = commit
    picked = {}
    for project, branches in by_project.items():
        wanted = branch_for.get(project)
        if wanted in branches:
            picked[project] = branches[wanted]
        elif len(branches) == 1:
            picked[project] = next(iter(branches.values()))
        else:
            raise GitError(f"project {project}: state has branches "
                           f"{', '.join(sorted(branches))}; none chosen")
    return picked
