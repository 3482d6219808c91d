"""Run git plumbing in a local repository, one subprocess per call.

Plumbing is cheap to spawn and its output is stable, so a thin wrapper over
subprocess beats a library here. Every failure becomes a one-line GitError.
"""
from __future__ import annotations

import os
import subprocess

# Commits gateq writes itself (merge commits, squashes) carry this identity,
# so merging works on hosts without `git config user.*`.
BOT_NAME = "gateq"
BOT_EMAIL = "gateq@localhost"


class GitError(Exception):
    """A git command failed or a ref is missing; the message is one line."""


def git_env(**extra: str) -> dict[str, str]:
    """The environment for git: the caller's, plus a fixed identity and C locale."""
    env = dict(os.environ)
    env.update(GIT_COMMITTER_NAME=BOT_NAME, GIT_COMMITTER_EMAIL=BOT_EMAIL,
               GIT_AUTHOR_NAME=BOT_NAME, GIT_AUTHOR_EMAIL=BOT_EMAIL,
               GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    env.update(extra)
    return env


def run(path: str, *args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `git -C path ARGS`, returning the result whatever the exit code."""
    try:
        return subprocess.run(["git", "-C", path, *args], input=stdin,
                              capture_output=True, encoding="utf-8",
                              errors="surrogateescape",  # round-trips odd bytes
                              env=env if env is not None else git_env())
    except OSError as exc:           # git missing, or path is not a directory
        raise GitError(f"cannot run git in {path}: {exc.strerror}") from exc


def git(path: str, *args: str, stdin: str | None = None,
        env: dict[str, str] | None = None, strip: bool = True) -> str:
    """Run git and return its stdout; a non-zero exit raises GitError."""
    proc = run(path, *args, stdin=stdin, env=env)
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {path}: {first_line(proc.stderr)}")
    return proc.stdout.strip() if strip else proc.stdout


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].strip() if lines else "no error message"


def resolve(path: str, ref: str) -> str | None:
    """The commit `ref` points to, or None when it does not exist."""
    proc = run(path, "rev-parse", "--verify", "--quiet", "--end-of-options",
               ref + "^{commit}")
    return proc.stdout.strip() if proc.returncode == 0 else None


def branch_tips(path: str, branches: list[str]) -> dict[str, str]:
    """Tips of the named branches that exist, read in a single git call."""
    refs = ["refs/heads/" + b for b in branches]
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", *refs)
    found = dict(line.split(" ", 1) for line in out.splitlines())
    # for-each-ref also matches refs *under* a pattern; keep exact names only.
    return {b: found[r] for b, r in zip(branches, refs) if r in found}


def has_commit(path: str, sha: str) -> bool:
    return run(path, "cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


def is_ancestor(path: str, ancestor: str, descendant: str) -> bool:
    proc = run(path, "merge-base", "--is-ancestor", ancestor, descendant)
    if proc.returncode > 1:
        raise GitError(f"git merge-base failed in {path}: {first_line(proc.stderr)}")
    return proc.returncode == 0
