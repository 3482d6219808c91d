"""Git plumbing on the stand-in's bare repositories (one per project under
`<state>/git/<project>.git`), used by the change model and by submit."""
from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass

ZERO = "0" * 40
CHANGE_ID = re.compile(r"^Change-Id:\s*(I[0-9a-f]{40})\s*$", re.MULTILINE)
SERVER_IDENTITY = {"GIT_AUTHOR_NAME": "Gerrit Code Review", "GIT_AUTHOR_EMAIL": "gerrit@localhost",
                   "GIT_COMMITTER_NAME": "Gerrit Code Review",
                   "GIT_COMMITTER_EMAIL": "gerrit@localhost"}


class GitFailed(Exception):
    """A git command failed; the message is git's first line of stderr."""


def git(repo: str, *args: str, stdin: str | None = None, env: dict | None = None,
        check: bool = True) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(["git", "-C", repo, *args], input=stdin, capture_output=True,
                          text=True, env={**clean, "LC_ALL": "C", **(env or {})})
    if check and proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise GitFailed(lines[0] if lines else f"git {args[0]} failed")
    return proc.stdout.strip()


def repo_path(root: str, project: str) -> str:
    return os.path.join(root, "git", project + ".git")


def resolve(repo: str, ref: str) -> str | None:
    out = git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False)
    return out or None


def heads(repo: str) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    return dict(line.split(" ", 1) for line in out.splitlines())


def is_ancestor(repo: str, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(["git", "-C", repo, "merge-base", "--is-ancestor", ancestor, descendant],
                          capture_output=True)
    return proc.returncode == 0


@dataclass(frozen=True)
class Commit:
    revision: str
    parents: list[str]
    author_name: str
    author_email: str
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def change_ids(self) -> list[str]:
        return CHANGE_ID.findall(footer(self.message))


def footer(message: str) -> str:
    """The last paragraph of a commit message, where git trailers live."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    return paragraphs[-1] if paragraphs else ""


def read_commit(repo: str, revision: str) -> Commit:
    out = git(repo, "show", "-s", "--format=%H%n%P%n%an%n%ae%n%B", revision)
    sha, parents, name, email, message = out.split("\n", 4)
    return Commit(sha, parents.split(), name, email, message.rstrip("\n") + "\n")


def new_commits(repo: str, tip: str, exclude: list[str]) -> list[str]:
    """Commits reachable from `tip` and not from `exclude`, oldest first."""
    out = git(repo, "rev-list", "--reverse", "--topo-order", tip, "--not", *exclude)
    return out.split()


def update_ref(repo: str, ref: str, new: str, old: str | None = None) -> None:
    git(repo, "update-ref", ref, new, *([old] if old else []))


def merge(repo: str, tip: str, commit: str, message: str) -> str:
    """A merge commit of `commit` into `tip`, or GitFailed on a conflict."""
    proc = subprocess.run(["git", "-C", repo, "merge-tree", "--write-tree", tip, commit],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise GitFailed("merge conflict")
    tree = proc.stdout.split("\n", 1)[0].strip()
    return git(repo, "commit-tree", tree, "-p", tip, "-p", commit, "-m", message,
               env=SERVER_IDENTITY)


def write_tree(repo: str, base: str | None, files: dict[str, str | None]) -> str:
    """`base`'s tree (or an empty one) with `files` written (None deletes),
    built through a private index, without a working tree."""
    index = os.path.join(repo, f"standin-index-{os.getpid()}-{threading.get_ident()}")
    env = {"GIT_INDEX_FILE": index}
    try:
        if base:
            git(repo, "read-tree", base, env=env)
        for path, content in files.items():
            if content is None:
                git(repo, "update-index", "--force-remove", path, env=env)
                continue
            blob = git(repo, "hash-object", "-w", "--stdin", stdin=content)
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        return git(repo, "write-tree", env=env)
    finally:
        if os.path.exists(index):
            os.unlink(index)


def commit_tree(repo: str, tree: str, parents: list[str], message: str,
                author: tuple[str, str]) -> str:
    name, email = author
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    return git(repo, "commit-tree", tree, *[arg for p in parents for arg in ("-p", p)],
               "-m", message, env=identity)


def init_bare(repo: str, head: str) -> None:
    os.makedirs(repo, exist_ok=True)
    git(repo, "init", "--quiet", "--bare", f"--initial-branch={head}")
