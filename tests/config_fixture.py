"""Configuration directories for the configuration tests: gateq.yaml, layout
files, job scripts and real git repositories, checked with `gateq validate`
as a user runs it."""
from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
import textwrap

from gateq.cli import main as gateq_main

GIT_ENV = {"GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.org"}

# A configuration error as the CLI prints it: FILE:LINE: message, one line.
ERROR_LINE = re.compile(r"[^:\n]+:[1-9][0-9]*: \S[^\n]*\Z")


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


@functools.lru_cache(maxsize=None)
def _template(branches: tuple[str, ...], bare: bool) -> str:
    """A repository holding one commit on each of `branches`, made once per run."""
    scratch = tempfile.mkdtemp(prefix="gateq-config-repo-")
    atexit.register(shutil.rmtree, scratch, True)     # the run's, not left in /tmp after it
    path = os.path.join(scratch, "repo")
    git("init", "-q", *(["--bare"] if bare else []), "-b", branches[0] if branches else "main",
        path, cwd=scratch)
    if branches:
        tree = git("mktree", cwd=path)
        commit = git("commit-tree", tree, "-m", "Initial import", cwd=path)
        for branch in branches:
            git("update-ref", f"refs/heads/{branch}", commit, cwd=path)
    return path


def make_repository(path: str, branches=("main",), bare: bool = True) -> str:
    """A git repository at `path` (bare unless told) with `branches`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copytree(_template(tuple(branches), bare), path, symlinks=True)
    return path


def write(root, name: str, text: str, mode: int | None = None) -> str:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    if mode is not None:
        os.chmod(path, mode)
    return path


def validate(path) -> tuple[int, str, str]:
    """`gateq -c PATH validate`: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gateq_main(["-c", str(path), "validate"])
    return rc, out.getvalue(), err.getvalue()


def refused(path) -> list[str]:
    """The error lines of a configuration `gateq validate` must refuse."""
    rc, out, err = validate(path)
    assert rc == 1, f"exit {rc}, stdout {out!r}, stderr {err!r}"
    assert out == ""
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert lines and all(ERROR_LINE.match(line) for line in lines), err
    return lines
