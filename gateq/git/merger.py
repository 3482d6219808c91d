"""Build an item's speculative state: its change merged onto the item ahead.

Merges run on git objects only (`merge-tree --write-tree` + `commit-tree`),
never in a working tree, and exactly once per item: the base state already
holds every change ahead, so nothing is replayed. An item of several
changes (a batch) merges them in turn onto the state so far. New commits go into the
project's own object store, so landing is a bare `update-ref`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config.model import MergeMode
from ..core.actions import PrepareMerge
from ..core.types import Change, SpecState, state_dict, state_tuple
from .repo import GitError, branch_tips, first_line, git, git_env, has_commit, is_ancestor, run

MAX_FILES_SHOWN = 5


class MergeConflict(Exception):
    """The change cannot be merged onto its base; `reason` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ChangeMissing(MergeConflict):
    """The change's pinned commit is gone from the repository (force-pushed
    away and pruned): no base can ever bring it back."""


class BranchMissing(MergeConflict):
    """The change's target branch was deleted."""


class Merger:
    """Carries out PrepareMerge actions.

    Holds no git state between calls (branch tips move); only the mapping
    from project to repository path is remembered.
    """

    def __init__(self, repo_path: Callable[[str], str]):
        self._repo_path = repo_path
        self._paths: dict[str, str] = {}

    def path(self, project: str) -> str:
        if project not in self._paths:
            self._paths[project] = self._repo_path(project)
        return self._paths[project]

    def merge(self, action: PrepareMerge) -> tuple[SpecState, str]:
        """Return (the item's full state, the commit its change merged onto)."""
        state, base, _ = self.merge_item(action)
        return state, base

    def merge_item(self, action: PrepareMerge) -> tuple[SpecState, str, SpecState]:
        """Merge every change of the item in turn (a batch has several); return
        its full state, the commit its first change's branch was at below
        them, and (project, branch, commit) the same for every other branch
        they changed."""
        state = state_dict(action.base)
        self._add_tips(state, [*action.need, *((c.project, c.branch) for c, _ in action.steps)])
        below: dict[tuple[str, str], str] = {}
        for change, mode in action.steps:
            key = (change.project, change.branch)
            if key not in state:
                raise BranchMissing(f"project {change.project}: branch {change.branch} does not "
                                    "exist (deleted?)")
            below.setdefault(key, state[key])
            state[key] = self._merge_one(state[key], change, mode)
        first = (action.change.project, action.change.branch)
        moved = tuple(sorted((p, b, c) for (p, b), c in below.items()
                             if (p, b) != first and state[(p, b)] != c))
        return state_tuple(state), below[first], moved

    def _merge_one(self, base: str, change: Change, mode: MergeMode) -> str:
        path = self.path(change.project)
        try:
            return MODES[mode](path, base, change)
        except GitError:
            if not has_commit(path, change.revision):
                raise ChangeMissing(f"project {change.project}: commit {change.revision[:12]} of "
                                    f"{change.ref} is gone from the repository") from None
            raise

    def _add_tips(self, state: dict[tuple[str, str], str],
                  keys: list[tuple[str, str]]) -> None:
        """Fill keys missing from `state` with branch tips, one git call per project."""
        missing: dict[str, list[str]] = {}
        for project, branch in keys:
            if (project, branch) not in state:
                missing.setdefault(project, []).append(branch)
        for project, branches in missing.items():
            for branch, tip in branch_tips(self.path(project), branches).items():
                state[(project, branch)] = tip


def merge_commit(path: str, base: str, change: Change) -> str:
    """A two-parent merge commit, like `git merge --no-ff`."""
    tree = merge_onto(path, change.project, base, change.revision)
    if tree is None:
        return base
    return commit_tree(path, tree, [base, change.revision],
                       f"Merge {change.name} into {change.branch}\n")


def squash(path: str, base: str, change: Change) -> str:
    """One commit on `base` with the change's content and its last commit's author."""
    tree = merge_onto(path, change.project, base, change.revision)
    if tree is None:
        return base
    last = read_commits(path, "-1", change.revision)[0]
    subject = last.message.split("\n", 1)[0]
    return commit_tree(path, tree, [base], f"{subject}\n\nSquashed {change.name}\n",
                       env=last.author_env())


def rebase(path: str, base: str, change: Change) -> str:
    """Replay the change's commits onto `base`, keeping authors and messages."""
    commits = read_commits(path, "--reverse", "--topo-order", change.revision, "^" + base)
    trees = {c.sha: c.tree for c in commits}
    current = base
    for commit in commits:
        if len(commit.parents) != 1:
            raise MergeConflict(f"{change.project}: rebase of merge commits not supported"
                                f" ({commit.sha[:12]})")
        parent = commit.parents[0]
        if parent == current:        # already sits on the right commit: keep it
            current = commit.sha
            continue
        parent_tree = trees.get(parent, parent + "^{tree}")
        current = cherry_pick(path, change.project, commit, current, parent_tree)
    return current


def cherry_pick(path: str, project: str, commit: Commit, onto: str,
                parent_tree: str) -> str:
    """Apply `commit`'s diff from `parent_tree` onto `onto`.

    git 2.39's merge-tree has no --merge-base, so both sides get a throwaway
    common parent holding the original parent's tree; merge-ort then uses it
    as the merge base. The throwaway commits are unreferenced and gc'd later.
    """
    fake_base = commit_tree(path, parent_tree, [], "gateq: rebase base\n")
    ours = commit_tree(path, onto + "^{tree}", [fake_base], "gateq: onto\n")
    theirs = commit_tree(path, commit.tree, [fake_base], "gateq: pick\n")
    tree = merge_tree(path, project, ours, theirs)
    return commit_tree(path, tree, [onto], commit.message, env=commit.author_env())


MODES: dict[MergeMode, Callable[[str, str, Change], str]] = {
    MergeMode.MERGE: merge_commit,
    MergeMode.SQUASH: squash,
    MergeMode.REBASE: rebase,
}


def merge_onto(path: str, project: str, base: str, rev: str) -> str | None:
    """The tree of `rev` merged onto `base`; None when `rev` is already in `base`.

    One git process does the common case: `merge-tree --stdin` runs the real
    merge plus a trivial merge of `base` with itself, which yields base's
    tree. Only a result equal to base's tree can mean `rev` is an ancestor,
    so only then is git asked (merging is per item, so calls are the cost).
    """
    proc = run(path, "merge-tree", "--stdin", "-z", "--name-only", "--no-messages",
               stdin=f"{base} {rev}\n{base} {base}\n")
    if proc.returncode != 0:
        raise merge_error(path, project, proc.stderr)
    # Each merge prints "<1 clean|0 conflicted>\0<tree>\0<file>\0...\0".
    merged, itself = (record.split("\0") for record in proc.stdout.split("\0\0")[:2])
    if merged[0] != "1":
        raise conflict(project, merged[2:])
    if merged[1] == itself[1] and is_ancestor(path, rev, base):
        return None
    return merged[1]


def merge_tree(path: str, project: str, ours: str, theirs: str) -> str:
    """The merged tree of two commits, or MergeConflict naming the files."""
    proc = run(path, "merge-tree", "--write-tree", "-z", "--name-only",
               "--no-messages", ours, theirs)
    fields = proc.stdout.split("\0")
    if proc.returncode == 0:
        return fields[0].strip()
    if proc.returncode == 1:
        raise conflict(project, fields[1:])
    raise merge_error(path, project, proc.stderr)


def conflict(project: str, files: list[str]) -> MergeConflict:
    names = list(dict.fromkeys(f for f in files if f))
    shown = ", ".join(names[:MAX_FILES_SHOWN])
    more = f" and {len(names) - MAX_FILES_SHOWN} more" if len(names) > MAX_FILES_SHOWN else ""
    return MergeConflict(f"merge conflict in {project}: {shown}{more}")


def merge_error(path: str, project: str, stderr: str) -> Exception:
    """Unrelated histories are the change's fault; anything else is git's."""
    if "unrelated histories" in stderr:
        return MergeConflict(f"merge conflict in {project}: no common history")
    return GitError(f"git merge-tree failed in {path}: {first_line(stderr)}")


def commit_tree(path: str, tree: str, parents: list[str], message: str,
                env: dict[str, str] | None = None) -> str:
    """Write a commit object; the message goes through stdin untouched."""
    args = ["commit-tree", "--no-gpg-sign", tree]
    for parent in parents:
        args += ["-p", parent]
    return git(path, *args, "-F", "-", stdin=message, env=env)


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str                 # git's raw "<epoch> <tz>" form
    message: str

    def author_env(self) -> dict[str, str]:
        return git_env(GIT_AUTHOR_NAME=self.author_name,
                       GIT_AUTHOR_EMAIL=self.author_email,
                       GIT_AUTHOR_DATE=self.author_date)


# rev-list prints "commit <sha>" before each record; NUL ends a record.
COMMIT_FORMAT = "--format=%T%n%P%n%an%n%ae%n%ad%n%B%x00"


def read_commits(path: str, *rev_args: str) -> list[Commit]:
    """Commits selected by rev-list arguments, with everything needed to rewrite them."""
    # Unstripped: commit messages end in newlines that must survive a rewrite.
    out = git(path, "rev-list", "--date=raw", COMMIT_FORMAT, *rev_args, strip=False)
    commits = []
    for record in out.split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        header, tree, parents, name, email, date, message = record.split("\n", 6)
        commits.append(Commit(header.split()[1], tree, tuple(parents.split()),
                              name, email, date, message))
    return commits

