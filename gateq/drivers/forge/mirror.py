"""gateq's own copy of each forge project: a bare repository per project
under the mirror root, where pull request heads are fetched (under the
forge's own refs, refs/pull/N/head) and branches followed, and from which
the lander pushes.

git reaches the forge over HTTPS (or HTTP on this host) with the API token
in an Authorization header given through git's environment (GIT_CONFIG_*),
never in a URL or on a command line; every git runs under a deadline, in a process group of
its own so it is killed whole.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from ...git import repo as git_repo
from ..base import DriverError, NotFound, Unreachable


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


def sends_token(url: str) -> bool:
    """Over HTTPS, or plain HTTP to this host only: never a token in clear on a network."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http"
                                       and parts.hostname in ("127.0.0.1", "::1", "localhost"))


class ForgeMirror:
    def __init__(self, name: str, root: str, git_url: str, auth: str | None,
                 timeout: float = 120.0) -> None:
        self.name = name
        self.root = root
        self.git_url = git_url.rstrip("/")
        self.auth = auth                  # the Authorization header's value, for https
        self.timeout = timeout
        self._lock = threading.Lock()

    def path(self, project: str) -> str:
        return os.path.join(self.root, project + ".git")

    def url(self, project: str) -> str:
        return f"{self.git_url}/{project}.git"

    def ensure(self, project: str) -> str:
        path = self.path(project)
        if os.path.isfile(os.path.join(path, "HEAD")):
            return path
        with self._lock:
            if not os.path.isfile(os.path.join(path, "HEAD")):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.new-{os.getpid()}"
                git_repo.git(os.path.dirname(path), "init", "--quiet", "--bare", tmp)
                os.rename(tmp, path)
        return path

    def fetch(self, project: str, refspecs: Sequence[str], prune: bool = False) -> None:
        result = self.run(project, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                                    *(["--prune"] if prune else []), self.url(project),
                                    *refspecs])
        if result.returncode != 0:
            raise self.error(project, "fetch", result)

    def fetch_pull(self, project: str, head_ref: str, branch: str | None) -> None:
        specs = [f"+{head_ref}:{head_ref}"] + ([f"+refs/heads/{branch}:refs/heads/{branch}"]
                                              if branch else [])
        self.fetch(project, specs)

    def fetch_branches(self, project: str) -> None:
        self.fetch(project, ["+refs/heads/*:refs/heads/*"], prune=True)

    def env(self, path: str) -> dict[str, str]:
        env = {k: v for k, v in git_repo.git_env().items()
               if not k.startswith("GIT_CONFIG") and k not in ("GIT_DIR", "GIT_WORK_TREE")}
        env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_DIR=path)
        if self.auth and sends_token(self.git_url):
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: {self.auth}")
        return env

    def run(self, project: str, args: Sequence[str]) -> GitResult:
        path = self.ensure(project)
        try:
            proc = subprocess.Popen(["git", *args], cwd=path, env=self.env(path),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise DriverError(f"cannot run git in {path}: {exc.strerror}") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Unreachable(f"{self.name}: git {args[0]} of {project} did not finish within "
                              f"{self.timeout:g}s (killed)") from None
        return GitResult(proc.returncode, out, err)

    def error(self, project: str, doing: str, result: GitResult) -> DriverError:
        text = f"{self.name}: git {doing} of {project} failed: {git_repo.first_line(result.stderr)}"
        return NotFound(text) if "couldn't find remote ref" in result.stderr else Unreachable(text)
