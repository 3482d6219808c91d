"""`gateq scheduler`: the engine, run by whichever scheduler holds the
gate's election (a kazoo Lock under /gateq/schedulers); the others stand by
and take over, from the journal, once the active one's session ends.

A term lasts while the session is certain (session.py): every write to
the shared state and every landing checks it first, so a scheduler that
lost its session (killed, partitioned, stopped past its timeout) neither
lands, publishes nor journals anything, even when it wakes up. It then
stands by again, and starts again from the journal if it wins again.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

from kazoo.exceptions import KazooException

from ..config.model import Config
from ..landing import Landed, Outcome
from ..state.errors import StateError
from .client import connect, where
from .session import SessionLost, SessionWatch
from .store import ROOT, ZooKeeperStore

log = logging.getLogger("gateq")

ELECTION = f"{ROOT}/schedulers"
WAIT_STEP = 0.5              # seconds between looks at should_stop while standing by


def run_scheduler(config: Config, should_stop: Callable[[], bool]) -> None:
    """Stand by, act while elected, stand by again, until should_stop()."""
    client = connect(config.zookeeper, patient=True)
    watch = SessionWatch(client, where(config.zookeeper))
    me = f"{socket.gethostname()}:{os.getpid()}"
    stale = None             # a term's lock node left behind while ZooKeeper was away
    try:
        while not should_stop():
            if stale is not None:
                if not leave(stale):
                    time.sleep(WAIT_STEP)    # behind its own old node it would wait forever
                    continue
                stale = None
            lock = client.Lock(ELECTION, me)
            log.info("scheduler %s standing by", me)
            if not elect(lock, should_stop):
                break
            try:
                watch.begin(f"{ELECTION}/{lock.node}")
                one_term(config, client, watch, should_stop)
            finally:
                if not leave(lock):
                    stale = lock
    finally:
        client.stop()
        client.close()


def elect(lock, should_stop: Callable[[], bool]) -> bool:
    while not should_stop():
        try:
            if lock.acquire(timeout=WAIT_STEP):
                return True
        except KazooException:
            time.sleep(WAIT_STEP)           # connection trouble: kazoo reconnects meanwhile
        except Exception as exc:            # kazoo's LockTimeout is not a KazooException
            if type(exc).__name__ != "LockTimeout":
                raise
    return False


def leave(lock) -> bool:
    """Whether the lock's node is gone (deleted, or gone with the session)."""
    try:
        lock.release()
    except KazooException:
        return False                        # unreachable: the node may live on with the session
    return True


def one_term(config: Config, client, watch: SessionWatch, should_stop) -> None:
    """Run the engine from the journal while this term may act."""
    from ..engine import Engine
    store = ZooKeeperStore(config.zookeeper, config.state_dir, client=client)
    store.fence = watch.check
    engine = Engine(config, store, executors=client if config.zookeeper.executors else None)
    guard_landing(engine, watch)
    try:
        engine.lock()
        engine.start()
        log.info("scheduler active: took over at journal row %d", engine.cursor)
        engine.run(False, should_stop=lambda: should_stop() or not watch.acting)
    except SessionLost as exc:
        log.warning("%s", exc)
    except StateError as exc:
        if watch.acting:
            raise
        log.warning("stopped acting: %s", exc)
    finally:
        try:
            engine.stop()
        except StateError as exc:           # its last status cannot be written: fine
            log.info("engine stopped without writing its status: %s", exc)
    if not should_stop():
        log.warning("scheduler lost its term (the ZooKeeper session is in doubt or ended): "
                    "standing by, to start again from the journal")


def guard_landing(engine, watch: SessionWatch) -> None:
    """Before a landing (which also publishes), check the session: a term
    in doubt lands nothing; the landing stays for the next active scheduler."""
    carry_out = engine.landing.carry_out

    def guarded(action) -> Landed:
        try:
            watch.check()
        except SessionLost as exc:
            return Landed(Outcome.RETRY, reason=str(exc))
        return carry_out(action)
    engine.landing.carry_out = guarded
