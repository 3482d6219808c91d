"""A user's side of git against the stand-in: local repositories that fetch
and push over SSH with OpenSSH's `ssh` (as GIT_SSH_COMMAND), strict about
the stand-in's host key and using only the user's key."""
from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from . import repos

if TYPE_CHECKING:
    from .standin import GerritStandIn, User


class GitCommandFailed(Exception):
    """A git command against the stand-in failed; carries its stderr."""

    def __init__(self, args: list[str], stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


class GitWork:
    def __init__(self, standin: "GerritStandIn") -> None:
        self.standin = standin

    def known_hosts(self) -> str:
        return self.standin.write_known_hosts(os.path.join(self.standin.root, "git_known_hosts"))

    def ssh_command(self, user: "User") -> str:
        options = {"StrictHostKeyChecking": "yes", "UserKnownHostsFile": self.known_hosts(),
                   "GlobalKnownHostsFile": "/dev/null", "IdentitiesOnly": "yes",
                   "IdentityFile": user.key.path, "BatchMode": "yes", "LogLevel": "ERROR",
                   "UpdateHostKeys": "no", "ConnectTimeout": "10"}
        return "ssh -F /dev/null " + " ".join(f"-o {k}={v}" for k, v in options.items())

    def env(self, user: "User") -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        return {**clean, "GIT_SSH_COMMAND": self.ssh_command(user), "LC_ALL": "C",
                "GIT_AUTHOR_NAME": user.name, "GIT_AUTHOR_EMAIL": user.email,
                "GIT_COMMITTER_NAME": user.name, "GIT_COMMITTER_EMAIL": user.email}

    def url(self, user: "User", project: str) -> str:
        return f"ssh://{user.username}@{self.standin.host}:{self.standin.port}/{project}"

    def git(self, user: "User", *args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(["git", *args], cwd=cwd, env=self.env(user), capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise GitCommandFailed(list(args), proc.stderr)
        return proc

    def checkout(self, user: "User", project: str) -> str:
        """The user's local repository of `project`, with every branch and
        patch set fetched from the stand-in."""
        path = os.path.join(self.standin.root, "work", user.username, project)
        if not os.path.isdir(path):
            self.git(user, "init", "--quiet", path)
        self.git(user, "fetch", "--quiet", self.url(user, project),
                 "+refs/heads/*:refs/remotes/origin/*",
                 "+refs/changes/*:refs/remotes/origin/changes/*", cwd=path)
        return path

    def commit(self, user: "User", project: str, parents: list[str], files: dict, message: str,
               base: str | None = None) -> tuple[str, str]:
        """(local repository, new commit) of `base`'s tree with `files`."""
        path = self.checkout(user, project)
        tree = repos.write_tree(path, base or (parents[0] if parents else None), files)
        return path, repos.commit_tree(path, tree, parents, message, (user.name, user.email))

    def push(self, user: "User", project: str, path: str, revision: str, ref: str,
             options: tuple[str, ...] = ()) -> str:
        """`git push` of `revision` (in `path`) to `ref`; returns what git printed."""
        args = ["push", *[f"--push-option={o}" for o in options], self.url(user, project),
                f"{revision}:{ref}"]
        return self.git(user, *args, cwd=path).stderr
