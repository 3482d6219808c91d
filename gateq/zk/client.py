"""Connecting to ZooKeeper, and every kazoo failure as one StateError line
naming the ensemble, as the SQLite store names its file."""
from __future__ import annotations

import contextlib
import logging
from typing import Callable

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from ..config.model import ZooKeeperSettings
from ..state.errors import StateError



def where(settings: ZooKeeperSettings) -> str:
    return f"zookeeper {settings.hosts}"


def connect(settings: ZooKeeperSettings, patient: bool = False) -> KazooClient:
    """A started client, or StateError: the hosts did not answer in time.
    `patient` (a scheduler, an executor): once started, it reconnects for
    as long as it takes (ZooKeeper restarted), instead of giving up after
    three tries as a command does."""
    tls = {}
    if settings.tls:
        cert, key, ca = settings.tls
        tls = {"use_ssl": True, "certfile": cert, "keyfile": key, "ca": ca, "verify_certs": True}
    client = KazooClient(hosts=settings.hosts, timeout=settings.session_timeout,
                         connection_retry={"max_tries": -1 if patient else 3, "delay": 0.2,
                                           "max_delay": 1},
                         **tls)
    try:
        client.start(timeout=settings.session_timeout)    # what the user calls unreachable
    except (KazooTimeoutError, KazooException, OSError) as exc:
        client.close()
        raise StateError(f"{where(settings)}: cannot connect ({describe(exc)}): check that "
                         "ZooKeeper runs there and zookeeper.hosts in gateq.yaml") from None
    return client


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return text or type(exc).__name__


@contextlib.contextmanager
def guard(place: str, doing: str):
    """kazoo's errors (connection loss, an expired session, a refused write)
    as one line; a missing node is the caller's to handle, so it passes."""
    try:
        yield
    except NoNodeError:
        raise
    except (KazooException, KazooTimeoutError) as exc:
        raise StateError(f"{place}: cannot {doing}: {type(exc).__name__} {describe(exc)} "
                         "(ZooKeeper unreachable or the session ended: nothing was half-written, "
                         "try again once it answers)") from None


class Trouble:
    """A worker process's (executor, merger) looks at ZooKeeper: an outage is
    logged once when it begins and once when it ends, not at every look."""

    def __init__(self, who: str, meanwhile: str) -> None:
        self.who, self.meanwhile = who, meanwhile
        self.kind: str | None = None

    def look(self, step: Callable[[], None]) -> None:
        log = logging.getLogger("gateq")
        try:
            step()
        except KazooException as exc:
            if self.kind != type(exc).__name__:
                self.kind = type(exc).__name__
                log.warning("%s: ZooKeeper: %s: %s", self.who, self.kind, self.meanwhile)
            return
        if self.kind:
            log.info("%s: ZooKeeper answers again", self.who)
            self.kind = None
