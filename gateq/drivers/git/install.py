"""`gateq hook install`: write the post-receive hook into a repository of a
git connection, and let pushes carry options (receive.advertisePushOptions).

The hook is a few lines of sh: a push that touches no refs/for/* ref is
not looked at (no Python starts, the push is not slowed); one that does
hands its lines to `gateq ... hook git post-receive`, which stores and
journals the changes (receive.py). Its exit status is always 0: a
post-receive hook cannot undo a push, and a failure is told, not hidden.
"""
from __future__ import annotations

import os
import shlex
from typing import Sequence

from ...git.repo import GitError, git

MARK = "# gateq post-receive hook"

SCRIPT = """#!/bin/sh
{mark} (connection {connection}, project {project}), written by `gateq hook install`.
# A push to refs/for/BRANCH proposes its commit as a change for BRANCH;
# `git push -o gateq.approve` also approves it. Other refs are not looked at.
input=$(cat)
case "$input" in
*" refs/for/"*)
    printf '%s\\n' "$input" | {command} || echo "gateq: the hook command failed (exit $?)"
    ;;
esac
exit 0
"""


class InstallError(Exception):
    """The hook cannot be installed; the message is one line."""


def hook_command(gateq_command: Sequence[str], connection: str, project: str) -> list[str]:
    """The words the hook runs: the gateq command, then what it is to do."""
    return [*gateq_command, "hook", "git", "post-receive", "--connection", connection,
            "--project", project]


def install_post_receive(repo: str, gateq_command: Sequence[str], connection: str,
                         project: str) -> str:
    """Install (or replace an earlier gateq) post-receive hook in `repo`;
    returns its path. A post-receive hook that gateq did not write is kept
    and refused: merging two hooks is for a person to do."""
    # An explicit --git-dir: a plain directory inside some other checkout
    # must not have the hook put into that checkout's repository.
    git_dir = os.path.join(repo, ".git") if os.path.isdir(os.path.join(repo, ".git")) else repo
    try:
        hooks = git(repo, f"--git-dir={git_dir}", "rev-parse", "--git-path", "hooks")
        git(repo, f"--git-dir={git_dir}", "config", "receive.advertisePushOptions", "true")
    except GitError as exc:
        raise InstallError(f"{repo}: not a git repository gateq can use: {exc}") from None
    hooks = hooks if os.path.isabs(hooks) else os.path.join(repo, hooks)
    path = os.path.join(hooks, "post-receive")
    if os.path.lexists(path) and not _ours(path):
        raise InstallError(f"{path} exists and was not written by gateq: merge it with gateq's "
                           "hook by hand, or move it aside and install again")
    command = " ".join(shlex.quote(word) for word in hook_command(gateq_command, connection, project))
    text = SCRIPT.format(mark=MARK, connection=connection, project=project, command=command)
    os.makedirs(hooks, exist_ok=True)
    tmp = path + ".gateq-tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def _ours(path: str) -> bool:
    try:
        with open(path, errors="replace") as f:
            return MARK in f.read(4096)
    except OSError:
        return False
