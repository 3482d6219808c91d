"""The active scheduler's repositories, served read-only to executors on
other hosts over git's own protocol (`git daemon`), and the executors' side:
fetching exactly the commits a build needs into repositories of their own.

The merger's commits are in no branch; `uploadpack.allowAnySHA1InWant` lets
an executor ask for them by name, and git's negotiation sends only what the
executor does not have yet (after its first build of a project, about what
the changes ahead touch). Only the repositories named are served, and
nothing can be pushed: git daemon refuses receive-pack unless enabled.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time

from .repo import GitError, git, has_commit

log = logging.getLogger("gateq.git")

START_PATIENCE = 10.0      # seconds for git daemon to listen


class GitDaemon:
    """`git daemon` for `paths`, listening on (host, port); port 0 picks a
    free one. `url(path)` is what an executor fetches `path` from."""

    def __init__(self, host: str, port: int, advertised: str | None = None) -> None:
        self.host, self.port = host, port
        self.advertised = advertised or (socket.getfqdn() if host in ("0.0.0.0", "::") else host)
        self.proc: subprocess.Popen | None = None

    def start(self, paths: list[str], log_path: str) -> None:
        port = self.port or free_port(self.host)
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                ["git", "-c", "uploadpack.allowAnySHA1InWant=true", "daemon", "--reuseaddr",
                 f"--listen={self.host}", f"--port={port}", "--export-all", "--strict-paths",
                 "--informative-errors", "--timeout=600", *sorted(set(paths))],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.port = port
        deadline = time.monotonic() + START_PATIENCE
        while not listening(self.host, port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise GitError(f"git daemon could not listen on {self.host}:{port} "
                               f"(see {log_path})")
            time.sleep(0.02)

    def url(self, path: str) -> str:
        host = f"[{self.advertised}]" if ":" in self.advertised else self.advertised
        return f"git://{host}:{self.port}{os.path.abspath(path)}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def die_with_parent() -> None:
    """In the daemon before exec: a scheduler killed (SIGKILL) takes its git
    daemon with it (Linux's PDEATHSIG), so a dead term serves nothing."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1",
                                       port), timeout=0.5):
            return True
    except OSError:
        return False


def fetch_commits(repo: str, url: str, commits: list[str]) -> None:
    """Make `commits` present in the bare repository `repo` (made if
    missing), fetching from `url` only those it lacks."""
    if not os.path.isdir(repo):
        os.makedirs(repo)
        git(repo, "init", "-q", "--bare")
    missing = [c for c in commits if not has_commit(repo, c)]
    if missing:
        git(repo, "fetch", "-q", "--no-tags", "--no-write-fetch-head", url, *missing)
