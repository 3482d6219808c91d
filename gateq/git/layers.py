"""A layer that makes a checkout at one commit show another: the
difference written as an overlay's layer over it (files git checks out
into it, whiteouts for those removed, a .git/HEAD and index of its own),
so that a build at a commit no kept checkout is at costs what differs
(checkouts.py lends them).
"""
from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

from .repo import git, git_env


@dataclass(frozen=True)
class PathChange:
    """One line of `git diff-tree -r -t`: `path` is a tree (a directory) or not, and
    is in the new commit (added or changed) or not (removed)."""
    path: str
    tree: bool
    kept: bool


def difference(path: str, old: str, new: str) -> list[PathChange]:
    """What differs from `old` to `new`, directories included, read in the checkout at `path`."""
    out = git(path, "diff-tree", "-r", "-t", "-z", "--no-renames", old, new, strip=False)
    fields = out.split("\0")
    changes = []
    for meta, name in zip(fields[0::2], fields[1::2]):   # ":MODE MODE OID OID STATUS", path
        old_mode, new_mode, _, _, status = meta[1:].split(" ")
        removed = status == "D"
        changes.append(PathChange(name, (old_mode if removed else new_mode) == "040000", not removed))
    return changes


def lay_difference(path: str, changes: list[PathChange], commit: str, layer: str) -> None:
    """Make `layer`, an overlay's layer over the checkout at `path`, show
    `commit`, `changes` away: the files it adds or changes checked out into
    it by git (modes, links and filters as git makes them), a whiteout where
    a path is removed (the highest: a directory removed is one), and a
    .git/HEAD and index of its own. The index is the checkout's with those entries changed, so git
    in the build stats the files and hashes none; split like the checkout's,
    it shares its shared part, which no one changes while it is lent (a
    change of up to all entries is written to the split part only)."""
    path, layer = os.path.abspath(path), os.path.abspath(layer)
    os.makedirs(os.path.join(layer, ".git"), exist_ok=True)
    index = os.path.join(layer, ".git", "index")
    shutil.copyfile(os.path.join(path, ".git", "index"), index)
    files = pathspecs(changes)
    if files:
        git(layer, "--git-dir", os.path.join(path, ".git"), "--work-tree", layer,
            "-c", "splitIndex.maxPercentChange=100", "checkout", "--quiet", "--no-overlay",
            commit, "--pathspec-from-file=-", "--pathspec-file-nul", stdin=files,
            env=git_env(GIT_INDEX_FILE=index, GIT_LITERAL_PATHSPECS="1"))
    for removed in whiteouts(changes):
        make_whiteout(os.path.join(layer, removed))
    head = os.path.join(layer, ".git", "HEAD")
    with open(head, "w") as f:
        f.write(commit + "\n")


def pathspecs(changes: list[PathChange]) -> str:
    """The paths git checks out for `changes`, NUL-separated: each that
    changed but a directory still there (it would check out all it holds);
    a directory removed or replaced stands for all it held (the paths inside
    one replaced by a file are not known to git at the new commit)."""
    removed = {c.path for c in changes if not c.kept}
    paths = dict.fromkeys(c.path for c in changes if not (c.tree and c.kept)
                          and not any(a in removed for a in ancestors(c.path)))
    return "".join(p + "\0" for p in paths)


def whiteouts(changes: list[PathChange]) -> list[str]:
    """The paths removed and not made again, but those inside one (a
    directory removed, or replaced by a file: what it held goes with it)."""
    removed = {c.path for c in changes if not c.kept}
    gone = removed - {c.path for c in changes if c.kept}
    return sorted(p for p in gone if not any(a in removed for a in ancestors(p)))


def ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def make_whiteout(path: str) -> None:
    """What overlayfs reads as "removed here": a character device 0/0,
    which a user without privileges may make too (Linux 5.8 on)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def whiteouts_allowed(directory: str) -> bool:
    """Whether a whiteout can be made in `directory` (tried once, removed)."""
    tried = os.path.join(directory, ".gateq-whiteout")
    try:
        make_whiteout(tried)
    except OSError:
        return False
    os.unlink(tried)
    return True
