"""Checkouts kept per project, lent to builds as the read-only lower layer
of their workspace's overlay, so that a build costs what its change touches.

A kept checkout is a `--shared` clone at one detached commit under
<state>/checkouts/<project>/<n>. Moving it to another commit rewrites only
the files that differ. Builds of one commit share a checkout; a build of
another commit gets another one, made once and kept. They outlive the
engine: at a start every checkout is free, one cut short while moving (its
UPDATING mark left) is repaired before it is lent again.
"""
from __future__ import annotations

import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

from .repo import GitError, git, git_env

UPDATING = ".gateq-updating"      # beside .git while a checkout moves; left by a crash
KEEP_FREE = 2                     # free checkouts kept per project beyond those lent
SURPLUS_IDLE = 600.0               # seconds a free checkout beyond KEEP_FREE is kept unused


@dataclass
class Kept:
    """One kept checkout. Invariant: while `lent` > 0 it is not changed."""
    path: str
    commit: str | None               # None: unknown (a move was cut short)
    lent: int = 0
    used: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Lease:
    project: str
    path: str


class KeptCheckouts:
    """Lends kept checkouts at the commit a build asks for. Thread-safe:
    builds may be prepared off the loop while others give theirs back."""

    def __init__(self, root: str, repo_path: Callable[[str], str],
                 discard: Callable[[str], None]) -> None:
        self.root = root
        self.repo_path = repo_path
        self.surplus_idle = SURPLUS_IDLE
        self.discard = discard            # removes a tree, maybe later (Trash.throw)
        self._kept: dict[str, list[Kept]] = {}
        self._lock = threading.Lock()

    def lend(self, project: str, commit: str) -> Lease:
        """A checkout of `project` at `commit`, not changed until given back."""
        with self._lock:
            kept = self._pick(project, commit)
            kept.lent += 1
            old, moving = kept.commit, kept.commit != commit
            if moving:
                kept.commit = None           # no one shares it while it moves
        if moving:
            try:
                self._move(project, kept, old, commit)
            except BaseException:
                with self._lock:
                    kept.lent -= 1
                    kept.commit = None
                raise
        return Lease(project, kept.path)

    def give_back(self, lease: Lease) -> None:
        """The build that held `lease` is over; surplus free checkouts go
        once unused for SURPLUS_IDLE. A busy project keeps as many as its
        builds use at once (made again, each is a full checkout: seconds on
        a large repository); an idle one comes back to KEEP_FREE."""
        with self._lock:
            now = time.monotonic()
            for kept in self._kept.get(lease.project, []):
                if kept.path == lease.path and kept.lent:
                    kept.lent -= 1
                    kept.used = now
            for kept_list in self._kept.values():
                free = sorted((k for k in kept_list if not k.lent), key=lambda k: k.used)
                for kept in free[:max(0, len(free) - KEEP_FREE)]:
                    if now - kept.used >= self.surplus_idle:
                        kept_list.remove(kept)
                        self.discard(kept.path)

    def prune(self, projects: set[str]) -> None:
        """Drop the checkouts of projects no longer configured (at a start)."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        for name in names:
            if urllib.parse.unquote(name) not in projects:
                self.discard(os.path.join(self.root, name))

    # -- choosing and moving -----------------------------------------------------

    def _pick(self, project: str, commit: str) -> Kept:
        """One at `commit` (shared), else the free one unused longest, else a new one."""
        kept_list = self._known(project)
        for kept in kept_list:
            if kept.commit == commit:
                return kept
        free = [k for k in kept_list if not k.lent]
        if free:
            return min(free, key=lambda k: k.used)
        taken = {os.path.basename(k.path) for k in kept_list}
        n = next(str(i) for i in range(len(kept_list) + 1) if str(i) not in taken)
        kept = Kept(os.path.join(self._project_dir(project), n), None)
        kept_list.append(kept)
        return kept

    def _known(self, project: str) -> list[Kept]:
        """The project's checkouts, read from disk the first time (after a restart)."""
        if project not in self._kept:
            directory = self._project_dir(project)
            names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
            source = objects_dir(os.path.abspath(self.repo_path(project)))
            self._kept[project] = []
            for path in (os.path.join(directory, n) for n in names):
                if borrowed_from(path) == source:
                    self._kept[project].append(Kept(path, head_commit(path)))
                else:                   # a state directory copied or moved, a root changed
                    self.discard(path)
        return self._kept[project]

    def _project_dir(self, project: str) -> str:
        return os.path.join(self.root, urllib.parse.quote(project, safe=""))

    def _move(self, project: str, kept: Kept, old: str | None, commit: str) -> None:
        """Bring the checkout from `old` to `commit`: only the files that
        differ are written; a new or broken one is checked out whole."""
        mark = os.path.join(kept.path, UPDATING)
        if not os.path.isdir(os.path.join(kept.path, ".git")):
            self.discard(kept.path)               # half made: start again
            os.makedirs(os.path.dirname(kept.path), exist_ok=True)
            git(os.path.dirname(kept.path), "clone", "--quiet", "--shared", "--no-checkout",
                "--config", "core.splitIndex=true",   # a move writes its changes, not the whole index
                os.path.abspath(self.repo_path(project)), kept.path)
            old = None
        broken = os.path.exists(mark)             # a move cut short, by a crash or an error
        open(mark, "w").close()
        moved = False
        if old is not None and not broken:
            try:
                move_files(kept.path, old, commit)
                moved = True
            except (GitError, OSError):           # `old` collected, say: half moved
                broken = True
        if not moved:
            check_out_whole(kept.path, commit, clean=broken)
        os.unlink(mark)
        with self._lock:
            kept.commit = commit


def move_files(path: str, old: str, new: str) -> None:
    """Check out, in a clean checkout of `old`, the paths that differ in
    `new` (added, changed and removed: one index read and write, git's
    filters applied), then detach HEAD at `new`."""
    changed = git(path, "diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new,
                  strip=False)
    if changed:
        git(path, "checkout", "--quiet", "--no-overlay", new, "--pathspec-from-file=-",
            "--pathspec-file-nul", stdin=changed, env=git_env(GIT_LITERAL_PATHSPECS="1"))
    detach_head(path, new)


def detach_head(path: str, commit: str) -> None:
    """HEAD detached at `commit`, written as git writes it (the commit id on
    a line, replaced by a rename) without a git process: a move is one git
    process fewer, and the checkout's reflog no longer grows with each move.
    No one else writes a checkout while it moves (it is lent to none), and
    one cut short keeps its UPDATING mark, so a half-made HEAD is never read."""
    head = os.path.join(path, ".git", "HEAD")
    new = head + ".gateq-new"
    with open(new, "w") as f:
        f.write(commit + "\n")
    os.replace(new, head)


def objects_dir(repo: str) -> str:
    """Where a repository keeps its objects (bare or not)."""
    inner = os.path.join(repo, ".git", "objects")
    return os.path.realpath(inner if os.path.isdir(inner) else os.path.join(repo, "objects"))


def borrowed_from(path: str) -> str | None:
    """The object store a kept checkout's clone borrows (its alternate)."""
    try:
        with open(os.path.join(path, ".git", "objects", "info", "alternates")) as f:
            return os.path.realpath(f.readline().strip())
    except OSError:
        return None


def head_commit(path: str) -> str | None:
    """The commit a kept checkout is at; None if unknown or a move was cut short."""
    if os.path.exists(os.path.join(path, UPDATING)):
        return None
    try:
        with open(os.path.join(path, ".git", "HEAD")) as f:
            head = f.read().strip()
    except OSError:
        return None
    return head if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head) else None


def check_out_whole(path: str, commit: str, clean: bool) -> None:
    """Every file of `commit`; with `clean`, after a move cut short, what
    is not in it goes too (and the lock a killed git left)."""
    if clean:
        try:
            os.unlink(os.path.join(path, ".git", "index.lock"))
        except FileNotFoundError:
            pass
    git(path, "checkout", "--quiet", "--force", "--detach", commit)
    if clean:
        git(path, "clean", "-ffdxq", "--exclude", UPDATING)
