"""Each project's git repository, and its default branch in it.

Project P of a connection rooted at ROOT is ROOT/P.git or ROOT/P, bare or
not (GitConnection.repo_path). Every gateq command loads the configuration,
and a site may have hundreds of projects, so the usual case is read from
the files git documents (HEAD, objects/, refs/, a loose or packed ref) in
microseconds; anything else is asked of git itself, with an explicit
--git-dir so that a plain directory inside some other checkout is not taken
for a repository, as git's search upwards for one would.
"""
from __future__ import annotations

import os
import re

from ..git import repo
from .errors import quote
from .model import GitConnection
from .values import shown_path

LISTED_BRANCHES = 10        # more than this and the message gives their number
PLAIN_BRANCH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*"
                          r"(/[A-Za-z0-9_][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*)*\Z")


def repository_problem(connection: GitConnection, project: str, branch: str,
                       config_dir: str) -> tuple[str, str] | None:
    """(attribute, message) when the project's repository or its default
    branch is missing; None when both are there."""
    candidates = [os.path.join(connection.root, project + ".git"),
                  os.path.join(connection.root, project)]
    looked = " and ".join(shown_path(config_dir, path) for path in candidates)
    path = connection.repo_path(project)
    if not os.path.isdir(path):
        return "name", f"no git repository in connection {quote(connection.name)} (looked for {looked})"
    git_dir = os.path.join(path, ".git") if os.path.exists(os.path.join(path, ".git")) else path
    if has_branch(git_dir, branch):
        return None
    try:
        found = repo.run(path, f"--git-dir={git_dir}", "for-each-ref", "--format=%(refname)",
                         "refs/heads/")
    except repo.GitError as exc:
        return "name", str(exc)
    shown = shown_path(config_dir, path)
    if found.returncode != 0:
        said = repo.first_line(found.stderr)
        why = "" if "not a git repository" in said else f": git says {said}"
        return "name", f"{shown} is not a git repository{why} (looked for {looked})"
    branches = [ref.removeprefix("refs/heads/") for ref in found.stdout.splitlines()]
    if branch not in branches:
        return "default-branch", (f"default-branch {quote(branch)} is not a branch of {shown} "
                                  f"({listing(branches)})")
    return None


def has_branch(git_dir: str, branch: str) -> bool:
    """True when git's own files show a repository holding `branch`; False
    means "ask git" (a linked worktree, reftable, an odd branch name...)."""
    if not (os.path.isfile(os.path.join(git_dir, "HEAD"))
            and os.path.isdir(os.path.join(git_dir, "objects"))
            and os.path.isdir(os.path.join(git_dir, "refs"))
            and PLAIN_BRANCH.match(branch) and not branch.endswith(".lock")):
        return False
    ref = f"refs/heads/{branch}"
    if os.path.isfile(os.path.join(git_dir, ref)):
        return True
    try:
        with open(os.path.join(git_dir, "packed-refs"), "rb") as f:
            return any(line.rstrip(b"\n").endswith(b" " + ref.encode()) for line in f)
    except OSError:
        return False


def listing(branches: list[str]) -> str:
    if not branches:
        return "it has no branches"
    if len(branches) > LISTED_BRANCHES:
        return f"it has {len(branches)} branches"
    return "branches: " + ", ".join(branches)
