"""gateq's own copy of each Gerrit project: a bare repository per project
under the mirror root, where the merger works and builds clone from, so
that neither needs the network. Patch sets are fetched into it under their
own refs (refs/changes/NN/N/P) before their event is handed on, branches
as refs/heads/* (forced: Gerrit is the truth), and the lander pushes from it.

git talks to Gerrit with OpenSSH's ssh as GIT_SSH_COMMAND: the configured
key only, the host key checked against the configured known-hosts only,
no prompts; every git process runs under a deadline in a process group of
its own, so a hung ssh is killed with it.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

from ...git import repo as git_repo
from ..base import DriverError, NotFound, Unreachable
from .connect import SSHSettings

KNOWN_REVISIONS = 100_000        # revisions remembered as present (commits never vanish)
# Lines git and ssh print around the one that says what went wrong.
NOISE = ("fatal: Could not read from remote repository", "Please make sure you have",
         "and the repository exists", "error: failed to push")
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/=]+")


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


class Mirror:
    def __init__(self, root: str, git_url: str, ssh: SSHSettings, timeout: float = 120.0) -> None:
        self.root = root
        self.git_url = git_url.rstrip("/")
        self.ssh = ssh
        self.timeout = timeout
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self._made: set[str] = set()

    def path(self, project: str) -> str:
        return os.path.join(self.root, project + ".git")

    def url(self, project: str) -> str:
        return f"{self.git_url}/{project}"

    def ensure(self, project: str) -> str:
        """The project's repository, made (empty, bare) if it is not there yet."""
        path = self.path(project)
        if project in self._made or os.path.isfile(os.path.join(path, "HEAD")):
            self._made.add(project)
            return path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.new-{os.getpid()}-{threading.get_ident()}"
        git_repo.git(os.path.dirname(path), "init", "--quiet", "--bare", tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not os.path.isfile(os.path.join(path, "HEAD")):
                raise
            _remove_tree(tmp)                    # made meanwhile by another thread
        self._made.add(project)
        return path

    # -- fetching -----------------------------------------------------------

    def fetch(self, project: str, refspecs: Sequence[str], timeout: float | None = None,
              prune: bool = False) -> None:
        """`git fetch` of these refspecs from Gerrit into the mirror."""
        if not refspecs:
            return
        result = self.run(project, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                                    *(["--prune"] if prune else []), self.url(project),
                                    *refspecs], timeout)
        if result.returncode != 0:
            raise self.error(project, "fetch", result)

    def fetch_patchsets(self, project: str, refs: Sequence[str], branches: Sequence[str]) -> None:
        """Patch set refs (skipping revisions already here) and branch tips, in one fetch."""
        specs = [f"+{ref}:{ref}" for ref in dict.fromkeys(refs)]
        specs += [f"+refs/heads/{b}:refs/heads/{b}" for b in dict.fromkeys(branches)]
        self.fetch(project, specs)

    def fetch_branches(self, project: str, branches: Sequence[str] | None = None) -> None:
        """The named branches, or every branch (and branches deleted on Gerrit go)."""
        if branches is None:
            self.fetch(project, ["+refs/heads/*:refs/heads/*"], prune=True)
        else:
            self.fetch(project, [f"+refs/heads/{b}:refs/heads/{b}" for b in branches])

    def has(self, project: str, revision: str) -> bool:
        """Whether the mirror holds `revision` (remembered once seen)."""
        key = (project, revision)
        with self._lock:
            if key in self._known:
                return True
        if not git_repo.has_commit(self.ensure(project), revision):
            return False
        self.remember(project, revision)
        return True

    def remember(self, project: str, revision: str) -> None:
        with self._lock:
            self._known[(project, revision)] = None
            while len(self._known) > KNOWN_REVISIONS:
                self._known.popitem(last=False)

    def tips(self, project: str, branches: Sequence[str]) -> dict[str, str]:
        return git_repo.branch_tips(self.ensure(project), list(branches))

    def remote_tip(self, project: str, branch: str) -> str | None:
        """The branch's tip on Gerrit now (None: no such branch)."""
        ref = "refs/heads/" + branch
        result = self.run(project, ["ls-remote", self.url(project), ref])
        if result.returncode != 0:
            raise self.error(project, "ls-remote", result)
        found = dict(line.split("\t")[::-1] for line in result.stdout.splitlines() if "\t" in line)
        return found.get(ref)

    # -- running git ----------------------------------------------------------

    def ssh_command(self) -> str:
        options = {"StrictHostKeyChecking": "yes", "UserKnownHostsFile": self.ssh.known_hosts,
                   "GlobalKnownHostsFile": "/dev/null", "IdentitiesOnly": "yes",
                   "IdentityFile": self.ssh.sshkey, "IdentityAgent": "none", "BatchMode": "yes",
                   "ConnectTimeout": str(max(1, int(self.ssh.connect_timeout))),
                   "ServerAliveInterval": str(max(1, int(self.ssh.keepalive))),
                   "ServerAliveCountMax": "2", "UpdateHostKeys": "no", "LogLevel": "ERROR"}
        return "ssh -F /dev/null " + " ".join(shlex.quote(f"-o{k}={v}") for k, v in options.items())

    def run(self, project: str, args: Sequence[str], timeout: float | None = None) -> GitResult:
        """git ARGS in the project's mirror; killed, with its ssh, at the deadline."""
        path = self.ensure(project)
        env = {k: v for k, v in git_repo.git_env().items() if not k.startswith("GIT_")
               or k in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME",
                        "GIT_AUTHOR_EMAIL")}
        env.update(GIT_SSH_COMMAND=self.ssh_command(), GIT_TERMINAL_PROMPT="0", LC_ALL="C",
                   GIT_DIR=path)
        seconds = timeout or self.timeout
        try:
            proc = subprocess.Popen(["git", *args], cwd=path, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, encoding="utf-8",
                                    errors="surrogateescape")
        except OSError as exc:
            raise DriverError(f"cannot run git in {path}: {exc.strerror}") from None
        try:
            out, err = proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Unreachable(f"gerrit {self.ssh.name}: git {args[0]} of {project} did not "
                              f"finish within {seconds:g}s (killed)") from None
        return GitResult(proc.returncode, out, err)

    def error(self, project: str, doing: str, result: GitResult) -> DriverError:
        """NotFound for a ref Gerrit does not have; Unreachable for the rest
        (ssh could not connect or was refused, Gerrit said no repository)."""
        line = said(result.stderr)
        text = f"gerrit {self.ssh.name}: git {doing} of {project} failed: {line}"
        if "couldn't find remote ref" in result.stderr:
            return NotFound(text)
        return Unreachable(text)


def said(stderr: str) -> str:
    """The line of git's or ssh's output that says what went wrong; for
    OpenSSH's boxed warning about a changed host key, one line of its own
    with the fingerprint the server offered."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        offered = FINGERPRINT.search(stderr)
        return ("host key changed: the server offers "
                f"{offered.group(0) if offered else 'another key'}, not the one in known-hosts; "
                "refusing to connect")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(NOISE) and not line.startswith("@")]
    return (useful or lines or ["no error message"])[0]


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
