"""pytest fixtures for the Gerrit stand-in; a test module imports the ones
it uses (`from gerrit.fixtures import gerrit, project  # noqa: F401`).

`gerrit_site` is one stand-in per test module (starting one costs a
Python process): each test gets a project of its own through `project`,
and `gerrit` clears the misbehaviour knobs around every test. Tests that
stop, restart or freeze the server use `own_gerrit`, a stand-in of their
own. User keys are made once per session.
"""
from __future__ import annotations

import itertools
import os
import queue
from dataclasses import dataclass, field

import pytest

from gateq.drivers.gerrit import Backoff, GerritEvent, GerritSSH, SSHSettings, StreamReader

from . import keys
from .standin import GerritStandIn, User, wait_for

USERS = {"gateq": True, "alice": True, "bob": False}     # name: may push to branches
_projects = itertools.count(1)


@pytest.fixture(scope="session")
def session_keys(tmp_path_factory) -> dict[str, keys.KeyPair]:
    root = tmp_path_factory.mktemp("gerrit-keys")
    return {name: keys.generate(str(root / name), name) for name in [*USERS, "stranger"]}


@dataclass
class Site:
    """A running stand-in with its users and a known_hosts file for clients."""
    standin: GerritStandIn
    users: dict[str, User]
    known_hosts: str
    root: str

    def settings(self, user: str = "gateq", sshkey: str | None = None, **overrides) -> SSHSettings:
        """Client settings for `user` (with their key unless `sshkey`)."""
        fields = dict(server="127.0.0.1", port=self.standin.port, user=user,
                      sshkey=sshkey or self.users[user].key.path, known_hosts=self.known_hosts,
                      connect_timeout=5.0, command_timeout=10.0, keepalive=5.0)
        fields.update(overrides)
        return SSHSettings(**fields)


def start_site(root: str, session_keys: dict[str, keys.KeyPair]) -> Site:
    standin = GerritStandIn(os.path.join(root, "gerrit"))
    standin.start()
    users = {name: standin.add_user(name, can_push=push, key=session_keys[name])
             for name, push in USERS.items()}
    known_hosts = standin.write_known_hosts(os.path.join(root, "known_hosts"))
    return Site(standin, users, known_hosts, root)


@pytest.fixture(scope="module")
def gerrit_site(tmp_path_factory, session_keys):
    site = start_site(str(tmp_path_factory.mktemp("gerrit-site")), session_keys)
    yield site
    site.standin.stop()


@pytest.fixture
def gerrit(gerrit_site) -> Site:
    gerrit_site.standin.release()
    yield gerrit_site
    gerrit_site.standin.release()


@pytest.fixture
def own_gerrit(tmp_path, session_keys):
    site = start_site(str(tmp_path), session_keys)
    yield site
    site.standin.thaw()
    site.standin.stop()


@pytest.fixture
def project(gerrit) -> str:
    name = f"p{next(_projects)}"
    gerrit.standin.create_project(name)
    return name


@dataclass
class EventLog:
    """What a StreamReader delivered, with waits that have deadlines."""
    events: "queue.SimpleQueue[GerritEvent]" = field(default_factory=queue.SimpleQueue)
    seen: list[GerritEvent] = field(default_factory=list)
    connects: int = 0

    def on_connect(self) -> None:
        self.connects += 1

    def wait(self, match, timeout: float = 10, what: str = "an event") -> GerritEvent:
        def found():
            while not self.events.empty():
                self.seen.append(self.events.get())
            return next((e for e in self.seen if match(e)), None)
        return wait_for(found, timeout, what)

    def drain(self) -> list[GerritEvent]:
        while not self.events.empty():
            self.seen.append(self.events.get())
        return list(self.seen)


def reader_for(site: Site, log: EventLog, on_event=None, **options) -> StreamReader:
    """A StreamReader for the `gateq` user, delivering into `log` (or to `on_event`)."""
    options.setdefault("backoff", Backoff(initial=0.2, maximum=1.0))
    return StreamReader(GerritSSH(site.settings()), on_event or log.events.put,
                        on_connect=log.on_connect, **options)


@pytest.fixture
def stream(gerrit):
    """A started StreamReader on the module's stand-in, with its EventLog."""
    log = EventLog()
    reader = reader_for(gerrit, log)
    reader.start()
    wait_for(lambda: log.connects, 10, "the stream to connect")
    yield reader, log
    reader.stop()
