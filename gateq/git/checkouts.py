"""Checkouts kept per project, lent to builds as the read-only lower layer
of their workspace's overlay, so that a build costs what its change touches.

A kept checkout is a `--shared` clone at one detached commit under
<state>/checkouts/<project>/<n>. Moving it to another commit rewrites only
the files that differ. Builds of one commit share a checkout. A build of
another commit gets a free one, moved; when none is free it shares one lent
at another commit under a layer holding the difference (files written,
whiteouts for those removed, a HEAD and index of its own), laid once and
shared by the builds of that commit, read-only, below each one's own upper
layer: a checkout of its own (a full checkout) is made only when that
difference is large. Checkouts outlive the engine: at a start every one is free, one
cut short while moving (its UPDATING mark left) is repaired before it is
lent again.
"""
from __future__ import annotations

import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

from .layers import difference, lay_difference, pathspecs
from .repo import GitError, git, git_env

UPDATING = ".gateq-updating"      # beside .git while a checkout moves; left by a crash
KEEP_FREE = 2                     # free checkouts kept per project beyond those lent
SURPLUS_IDLE = 600.0               # seconds a free checkout beyond KEEP_FREE is kept unused
# Paths a difference laid into a build's layer may have; past it the build
# gets a checkout of its own, kept for the builds after it (writing 5,000
# files costs about what a checkout of a mid-sized repository does).
LAYER_MOST = 5000


@dataclass
class Kept:
    """One kept checkout. Invariant: while `lent` > 0 it is not changed;
    `commit` is None while it moves (then it is lent) or after a move failed."""
    path: str
    commit: str | None               # None: unknown (a move was cut short)
    lent: int = 0
    used: float = field(default_factory=time.monotonic)
    moving_to: str | None = None     # the commit it is being moved to


@dataclass(frozen=True)
class Lease:
    project: str
    path: str                        # the kept checkout
    commit: str                      # the commit the build sees
    layer: str | None = None         # a difference laid over `path` to show it (shared)


@dataclass
class Laid:
    """A difference laid over `base` to show one commit, shared read-only by
    the builds of that commit (`lent`); `base` is held once for it while it
    exists. Invariant: `base` is None while it is being laid."""
    path: str
    base: Kept | None = None
    lent: int = 1


class KeptCheckouts:
    """Lends kept checkouts at the commit a build asks for, and differences
    laid over them (under `layers`). Thread-safe: builds may be prepared off
    the loop while others give theirs back."""

    def __init__(self, root: str, repo_path: Callable[[str], str],
                 discard: Callable[[str], None], layers: str) -> None:
        self.root = root
        self.layers = layers
        self.repo_path = repo_path
        self.surplus_idle = SURPLUS_IDLE
        self.layer_most = LAYER_MOST
        self.layering = False             # whether whiteouts can be made (Workspaces probes)
        self.discard = discard            # removes a tree, maybe later (Trash.throw)
        self._kept: dict[str, list[Kept]] = {}
        self._laid: dict[tuple[str, str], Laid] = {}
        self._changed = threading.Condition()     # a move or a layer ended, a lease came back

    def lend(self, project: str, commit: str) -> Lease:
        """A checkout of `project` that shows `commit` (maybe a kept one at
        another commit under a layer), not changed until given back."""
        with self._changed:
            kept, laid, bases = self._choose(project, commit)
            old = self._hold(kept, commit) if kept else None
        if laid is not None and not bases:
            return Lease(project, laid.base.path, commit, laid.path)     # type: ignore[union-attr]
        if laid is not None:
            lease = self._lay(project, commit, laid, bases)
            if lease is not None:
                return lease
            with self._changed:           # the difference is too large: one of its own
                kept = self._at(project, commit) or self._free(project) or self._new(project)
                old = self._hold(kept, commit)
        return self._moved(project, kept, old, commit)       # type: ignore[arg-type]

    def give_back(self, lease: Lease) -> None:
        """The build that held `lease` is over; a layer no build uses goes at
        once. Surplus free checkouts go once unused for SURPLUS_IDLE. A busy
        project keeps as many as its builds use at once (made again, each is
        a full checkout: seconds on a large repository); an idle one comes
        back to KEEP_FREE."""
        with self._changed:
            if lease.layer is None or self._layer_unused(lease):
                self._release(lease.project, lease.path)
                self._drop_surplus()
            self._changed.notify_all()

    def prune(self, projects: set[str]) -> None:
        """Drop the checkouts of projects no longer configured (at a start)."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        for name in names:
            if urllib.parse.unquote(name) not in projects:
                self.discard(os.path.join(self.root, name))

    # -- choosing and giving back (under the lock) --------------------------------

    def _choose(self, project: str, commit: str) -> tuple[Kept | None, Laid | None, list[Kept]]:
        """What to lend for `commit`: a checkout there (shared; one being moved
        there is waited for), else a layer showing it (shared; one being laid
        is waited for), else the free checkout unused longest (to be moved),
        else, layering, a new layer and the checkouts lent at other commits,
        each held, for its difference to be laid over one of them, else a new
        checkout. Layering, a build waits for a checkout being moved or made
        rather than make another one (a full checkout)."""
        while True:
            kept = self._at(project, commit)
            laid = self._laid.get((project, commit))
            if kept is None and laid is None:
                kept = self._free(project)
            if kept is not None:
                return kept, None, []
            if laid is not None:
                if laid.base is not None:
                    laid.lent += 1
                    return None, laid, []
            elif not any(k.moving_to == commit for k in self._known(project)):
                known = self._known(project)
                bases = [k for k in known if k.commit is not None]
                if not self.layering or not (bases or any(k.lent for k in known)):
                    return self._new(project), None, []
                if bases:
                    for base in bases:
                        base.lent += 1
                    laid = self._laid[(project, commit)] = Laid(self._layer_dir(project, commit))
                    return None, laid, bases
            self._changed.wait()

    def _hold(self, kept: Kept, commit: str) -> str | None:
        """`kept` lent once more; if it is to move, no one shares it meanwhile.
        Its commit before is returned."""
        kept.lent += 1
        old = kept.commit
        if old != commit:
            kept.commit, kept.moving_to = None, commit
        return old

    def _layer_unused(self, lease: Lease) -> bool:
        """One build fewer on the lease's layer; True when it went with it."""
        laid = self._laid.get((lease.project, lease.commit))
        if laid is None or laid.path != lease.layer:
            return False
        laid.lent -= 1
        if laid.lent:
            return False
        del self._laid[(lease.project, lease.commit)]
        self.discard(laid.path)
        return True

    def _release(self, project: str, path: str) -> None:
        for kept in self._kept.get(project, []):
            if kept.path == path and kept.lent:
                kept.lent -= 1
                kept.used = time.monotonic()

    def _drop_surplus(self) -> None:
        now = time.monotonic()
        for kept_list in self._kept.values():
            free = sorted((k for k in kept_list if not k.lent), key=lambda k: k.used)
            for kept in free[:max(0, len(free) - KEEP_FREE)]:
                if now - kept.used >= self.surplus_idle:
                    kept_list.remove(kept)
                    self.discard(kept.path)

    def _at(self, project: str, commit: str) -> Kept | None:
        return next((k for k in self._known(project) if k.commit == commit), None)

    def _free(self, project: str) -> Kept | None:
        free = [k for k in self._known(project) if not k.lent]
        return min(free, key=lambda k: k.used) if free else None

    def _new(self, project: str) -> Kept:
        kept_list = self._known(project)
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

    def _layer_dir(self, project: str, commit: str) -> str:
        return os.path.join(self.layers, urllib.parse.quote(project, safe=""), commit)

    # -- laying a difference, moving -----------------------------------------------

    def _lay(self, project: str, commit: str, laid: Laid, bases: list[Kept]) -> Lease | None:
        """`laid` made over the base whose difference to `commit` is smallest,
        which it keeps held; the other bases are given back, all of them (and
        None returned, `laid` forgotten) when even that difference has more
        than `layer_most` paths, or when it cannot be laid. The bases are
        held, so their commits stand still meanwhile."""
        held = {b.path: b for b in bases}
        try:
            found = [(difference(b.path, b.commit or "", commit), b) for b in bases]
            changes, base = min(found, key=lambda pair: len(pair[0]))
            if len(changes) > self.layer_most:
                return None
            self.discard(laid.path)               # one left by a crash, say
            lay_difference(base.path, changes, commit, laid.path)
            del held[base.path]
            with self._changed:
                laid.base = base
            return Lease(project, base.path, commit, laid.path)
        finally:
            with self._changed:
                if laid.base is None:
                    del self._laid[(project, commit)]
                    self.discard(laid.path)
                for base in held.values():
                    self._release(project, base.path)
                self._changed.notify_all()

    def _moved(self, project: str, kept: Kept, old: str | None, commit: str) -> Lease:
        """`kept`, held, brought from `old` to `commit` if they differ."""
        if old != commit:
            try:
                self._move(project, kept, old, commit)
            except BaseException:
                with self._changed:
                    kept.lent -= 1
                    kept.commit = kept.moving_to = None
                    self._changed.notify_all()
                raise
        return Lease(project, kept.path, commit)

    def _move(self, project: str, kept: Kept, old: str | None, commit: str) -> None:
        """Bring the checkout from `old` to `commit`: only the files that
        differ are written; a new or broken one is checked out whole."""
        mark = os.path.join(kept.path, UPDATING)
        if not os.path.isdir(os.path.join(kept.path, ".git")):
            self.discard(kept.path)               # half made: start again
            os.makedirs(os.path.dirname(kept.path), exist_ok=True)
            git(os.path.dirname(kept.path), "clone", "--quiet", "--shared", "--no-checkout",
                "--config", "core.splitIndex=true",   # a move writes what changed, not the index
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
        with self._changed:
            kept.commit, kept.moving_to = commit, None
            self._changed.notify_all()


def move_files(path: str, old: str, new: str) -> None:
    """Check out, in a clean checkout of `old`, the paths that differ in
    `new` (added, changed and removed: one index read and write, git's
    filters applied), then detach HEAD at `new`."""
    changed = pathspecs(difference(path, old, new))
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
