"""Check out a speculative state for a build: one cheap clone per project.

Clones share the source's object store (`--shared`), so they cost a few
files plus the checkout, still show full history, and see the merge commits
the merger wrote into the source repository without fetching anything.
"""
from __future__ import annotations

import os
from typing import Callable

from ..core.types import SpecState
from .repo import GitError, git


def prepare_workspace(dest: str, state: SpecState, repo_path: Callable[[str], str],
                      branch_for: dict[str, str] | None = None) -> dict[str, str]:
    """Clone every project of `state` to dest/src/<project> at its state commit.

    Returns {project: checkout path}; HEAD is detached at the commit.
    """
    checkouts = {}
    for project, commit in pick_commits(state, branch_for or {}).items():
        target = os.path.abspath(os.path.join(dest, "src", project))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        git(os.path.dirname(target), "clone", "--quiet", "--shared", "--no-checkout",
            os.path.abspath(repo_path(project)), target)
        git(target, "checkout", "--quiet", "--detach", commit)
        checkouts[project] = target
    return checkouts


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
