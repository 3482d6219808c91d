"""A Gerrit stand-in for tests: a real SSH server in a process of its own,
driven from the test through its control channel.

Why a process: stopping it closes every socket the way a crashed or
restarted Gerrit does, SIGSTOP freezes it the way a hung server or a dead
network link does (TCP stays up, nothing answers), and its threads do not
share the test's interpreter lock, so throughput measured against it is
the client's own.

    with GerritStandIn(tmp_path / "gerrit") as gerrit:
        alice = gerrit.add_user("alice")
        gerrit.create_project("nova")
        change = gerrit.upload("nova", alice, {"a.txt": "1"}, "Add a")   # a real git push
        gerrit.review(change.number, alice, {"Code-Review": 2})
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from . import keys
from .gitwork import GitWork

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StandInError(Exception):
    """The stand-in refused a control request; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    email: str
    key: keys.KeyPair


@dataclass(frozen=True)
class Uploaded:
    number: int
    patchset: int
    revision: str
    change_id: str

    @property
    def ref(self) -> str:
        return f"refs/changes/{self.number % 100:02d}/{self.number}/{self.patchset}"


def wait_for(condition, timeout: float, what: str, step: float = 0.02):
    """Poll `condition` until it returns something true, or fail after
    `timeout` seconds saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class GerritStandIn:
    def __init__(self, root: str) -> None:
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.ports: dict = {}
        self.work = GitWork(self)

    # -- the process --------------------------------------------------------

    def start(self, timeout: float = 15) -> None:
        log = open(os.path.join(self.root, "server.stderr"), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gerrit.server", self.root],
                                     cwd=TESTS, stdout=log, stderr=log,
                                     env={**os.environ, "PYTHONPATH": TESTS})
        log.close()
        self.ports = wait_for(self._new_ports, timeout, "the stand-in to listen")

    def _new_ports(self) -> dict | None:
        if self.proc.poll() is not None:
            raise StandInError(f"the stand-in exited ({self.proc.returncode}); see "
                               f"{self.root}/server.stderr")
        try:
            with open(os.path.join(self.root, "ports.json")) as f:
                ports = json.load(f)
        except (OSError, ValueError):
            return None
        return ports if ports["pid"] == self.proc.pid else None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM: the stand-in closes every connection and exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash; the state saved so far survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> "GerritStandIn":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.ports["ssh"]

    @property
    def host_key(self) -> keys.KeyPair:
        return keys.load(os.path.join(self.root, "ssh_host_ed25519_key"))

    def write_known_hosts(self, path: str, public: str | None = None) -> str:
        """A known_hosts file naming this server with its key (or `public`)."""
        with open(path, "w") as f:
            f.write(keys.known_hosts_line(self.host, self.port, public or self.host_key.public))
        return str(path)

    # -- the control channel ------------------------------------------------

    def call(self, op: str, **args):
        with socket.create_connection(("127.0.0.1", self.ports["control"]), timeout=60) as sock:
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            answer = json.loads(sock.makefile("rb").readline())
        if not answer["ok"]:
            raise StandInError(answer["error"])
        return answer["result"]

    def add_user(self, username: str, *, can_push: bool = False,
                 key: keys.KeyPair | None = None) -> User:
        """An account with an SSH key (a new one unless `key` is given)."""
        if key is None:
            os.makedirs(os.path.join(self.root, "keys"), exist_ok=True)
            key = keys.generate(os.path.join(self.root, "keys", username), username)
        user = User(username, username.capitalize(), f"{username}@example.org", key)
        self.call("add_account", username=username, name=user.name, email=user.email,
                  keys=[key.public], can_push=can_push)
        return user

    def create_project(self, name: str, files: dict | None = None, head: str = "main",
                       submit_type: str = "MERGE_IF_NECESSARY") -> str:
        return self.call("create_project", name=name, files=files, head=head,
                         submit_type=submit_type)

    def upload(self, project: str, user: User, files: dict, subject: str, *, branch: str = "main",
               parent: str | None = None, change_id: str | None = None, body: str = "",
               via: str = "push", topic: str | None = None) -> Uploaded:
        """A new change (or, with the Change-Id of an open one, its next
        patch set) from a commit of `files` on `parent` (default: the tip).
        `via="push"` pushes to refs/for/<branch> over SSH with git;
        `via="api"` writes the commit in the stand-in directly (faster)."""
        change_id = change_id or new_change_id()
        message = f"{subject}\n\n{body + chr(10) + chr(10) if body else ''}Change-Id: {change_id}\n"
        parent = parent or self.branch_tip(project, branch)
        if via == "push":
            path, revision = self.work.commit(user, project, [parent], files, message)
            self.work.push(user, project, path, revision, "refs/for/" + branch,
                           (f"topic={topic}",) if topic else ())
        else:
            revision = self.call("commit", project=project, parents=[parent], files=files,
                                 message=message, author=[user.name, user.email])
            self.call("upload", project=project, branch=branch, revision=revision,
                      user=user.username, topic=topic)
        return self.find(revision)

    def new_patchset(self, number: int, user: User, files: dict, *, via: str = "push",
                     rebase_on: str | None = None) -> Uploaded:
        """The change's next patch set: its current commit amended with `files`
        (on the same parent, or on `rebase_on`)."""
        change = self.change(number)
        project, current = change["project"], change["currentPatchSet"]
        parent = rebase_on or current["parents"][0]
        if via == "push":
            path, revision = self.work.commit(user, project, [parent], files,
                                              change["commitMessage"], base=current["revision"])
            self.work.push(user, project, path, revision, "refs/for/" + change["branch"])
        else:
            revision = self.call("commit", project=project, parents=[parent], files=files,
                                 message=change["commitMessage"], author=[user.name, user.email],
                                 base=current["revision"])
            self.call("upload", project=project, branch=change["branch"], revision=revision,
                      user=user.username)
        return self.find(revision)

    def find(self, revision: str) -> Uploaded:
        for change in self.query(f"commit:{revision}"):
            for ps in change["patchSets"]:
                if ps["revision"] == revision:
                    return Uploaded(change["number"], ps["number"], revision, change["id"])
        raise StandInError(f"no patch set has commit {revision}")

    def query(self, text: str) -> list[dict]:
        return [self.change(c) for c in self.call("numbers", query=text)]

    def push_branch(self, project: str, user: User, files: dict, message: str,
                    branch: str = "main") -> str:
        """A commit on the branch tip pushed straight to refs/heads/<branch>
        over SSH (as someone outside gateq would); returns it."""
        path, revision = self.work.commit(user, project, [self.branch_tip(project, branch)],
                                          files, message)
        self.work.push(user, project, path, revision, "refs/heads/" + branch)
        return revision

    def review(self, number: int, user: User, labels: dict | None = None,
               message: str | None = None, patchset: int | None = None) -> None:
        """A vote and/or comment by `user` (emits comment-added)."""
        ps = patchset or self.change(number)["currentPatchSet"]["number"]
        self.call("review", user=user.username, number=number, patchset=ps, labels=labels,
                  message=message)

    def abandon(self, number: int, user: User, reason: str = "") -> None:
        self.call("abandon", user=user.username, number=number, reason=reason)

    def restore(self, number: int, user: User, reason: str = "") -> None:
        self.call("restore", user=user.username, number=number, reason=reason)

    def set_wip(self, number: int, user: User, wip: bool = True) -> None:
        self.call("set_wip", user=user.username, number=number, wip=wip)

    def delete_branch(self, project: str, branch: str, user: str = "admin") -> None:
        """Delete a branch on the server (emits ref-updated to zeros)."""
        self.call("delete_branch", project=project, branch=branch, user=user)

    def change(self, number: int) -> dict:
        """The change as `gerrit query` shows it with every option."""
        return self.call("change", number=number)

    def branch_tip(self, project: str, branch: str = "main") -> str | None:
        return self.call("branch_tip", project=project, branch=branch)

    def reviews(self, target: str | None = None) -> list[dict]:
        """Every `gerrit review` received (optionally for one `N,P`), oldest first."""
        return [r for r in self.call("reviews") if target is None or r["target"] == target]

    def drop_streams(self) -> int:
        """Cut every stream-events connection; returns how many there were."""
        return self.call("drop_streams")

    def inject(self, line: str) -> None:
        """Send `line` as is to every stream-events session (Gerrit never
        sends garbage, but a proxy or a cut connection might)."""
        self.call("inject", line=line)

    def stream_count(self) -> int:
        return self.call("stream_count")

    def connections(self) -> int:
        """SSH connections open on the stand-in now."""
        return self.call("connections")

    def wait_for_streams(self, count: int, timeout: float = 10) -> None:
        wait_for(lambda: self.stream_count() == count, timeout, f"{count} stream-events sessions")

    def hold(self, command: str, seconds: float) -> None:
        """Hold commands starting with `command` (e.g. "gerrit review") for
        `seconds` before running them."""
        self.call("set_knobs", hold={command: seconds})

    def hold_matching(self, pattern: str, seconds: float) -> None:
        """Hold commands whose line matches the regular expression `pattern`
        (e.g. one change's `gerrit review`, by its N,P) for `seconds`."""
        self.call("set_knobs", hold_matching={pattern: seconds})

    def release(self) -> None:
        self.call("set_knobs", hold={}, hold_matching={}, refuse_connections=False)

    def refuse_connections(self, refuse: bool = True) -> None:
        """Accept TCP connections and close them at once (before SSH)."""
        self.call("set_knobs", refuse_connections=refuse)

    def configure(self, **settings) -> None:
        self.call("configure", **settings)


def new_change_id() -> str:
    return "I" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
