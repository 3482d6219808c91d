"""Turn a proposed ref into a Change pinned to the revision it points to now.

Pinning matters: the queue tests exactly this revision, so a later push to
the ref is a new change, never a silent swap under a running build.
"""
from __future__ import annotations

from ..core.types import Change, full_ref  # one rule for refs, shared with the queue
from .repo import GitError, git, resolve


class AlreadyLanded(GitError):
    """The change's revision is already on its target branch."""


class NoBranch(GitError):
    """The change's target branch does not exist."""


def resolve_change(repo_path: str, project: str, ref: str, branch: str) -> Change:
    """Read `ref` and its commits not yet on `branch` from the repository."""
    revision = resolve(repo_path, full_ref(ref))
    if revision is None:
        raise GitError(f"project {project}: no ref {ref}")
    return pin_revision(repo_path, project, ref, revision, branch)


def pin_revision(repo_path: str, project: str, ref: str, revision: str, branch: str,
                 named: str | None = None) -> Change:
    """`revision` (of the change `ref`, called `named` in errors) with its
    commits not yet on `branch`, which must exist (NoBranch) and not hold
    it already (AlreadyLanded)."""
    target = resolve(repo_path, "refs/heads/" + branch)
    if target is None:
        raise NoBranch(f"project {project}: no branch {branch}")
    commits = git(repo_path, "rev-list", revision, "^" + target).split()
    if not commits:
        raise AlreadyLanded(f"project {project}: {named or ref} ({revision[:12]}) is already on "
                            f"branch {branch}: there is nothing to test or land")
    return Change(project=project, ref=ref, branch=branch, revision=revision,
                  commits=frozenset(commits))
