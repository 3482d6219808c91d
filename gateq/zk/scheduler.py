"""`gateq scheduler`: the engine, run by whichever scheduler holds the
gate's election (a kazoo Lock under /gateq/schedulers); the others stand by
and take over, from the journal, once the active one's session ends.

A term lasts while the session is certain (session.py): every write to
the shared state and every landing checks it first, so a scheduler that
lost its session (killed, partitioned, stopped past its timeout) neither
lands, publishes nor journals anything, even when it wakes up. It then
stands by again, and starts again from the journal if it wins again.

A term begins only if this host's publish root holds every snapshot the
gate published (takeover.py): a scheduler whose root is another (its own,
behind) would publish a repository diverging from git's history, so it
steps down and stands by again RETRY_REFUSED later, leaving the term to a
standby that shares the root.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Callable, Iterator

from kazoo.exceptions import KazooException, NoNodeError

from .. import takeover
from ..config.model import Config
from ..landing import Landed, Outcome
from ..state.errors import StateError
from .client import connect, where
from .session import SessionLost, SessionWatch
from .store import ROOT, ZooKeeperStore

log = logging.getLogger("gateq")

ELECTION = f"{ROOT}/schedulers"
WAIT_STEP = 0.5              # seconds between looks at should_stop while standing by
RETRY_REFUSED = 30.0         # seconds a scheduler whose publish root is behind stays out
RESULTS_LOOKED = 1000        # newest results read for the snapshots they name, at most


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
            refused = False
            try:
                watch.begin(f"{ELECTION}/{lock.node}")
                refused = one_term(config, client, watch, should_stop)
            finally:
                if not leave(lock):
                    stale = lock
            if refused:
                stay_out(should_stop, RETRY_REFUSED)
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


def stay_out(should_stop: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < end:
        time.sleep(min(WAIT_STEP, max(0.0, end - time.monotonic())))


def one_term(config: Config, client, watch: SessionWatch, should_stop) -> bool:
    """Run the engine from the journal while this term may act; True if
    it did not act, its publish root being behind the gate's."""
    from ..engine import Engine
    store = ZooKeeperStore(config.zookeeper, config.state_dir, client=client)
    store.fence = watch.check
    try:
        behind = publish_root_behind(config, client, store)
    except StateError as exc:
        if watch.acting:
            raise
        log.warning("stopped before acting: %s", exc)
        return False
    if behind:
        log.error("scheduler does not act: %s; standing down, standing by again in %gs",
                  takeover.describe_behind(config.publish_dir, behind), RETRY_REFUSED)
        return True
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
    return False


def publish_root_behind(config: Config, client, store: ZooKeeperStore) -> list[takeover.Behind]:
    """The repositories this host's publish root is behind the gate in,
    by the landings journaled since the checkpoint and the newest results."""
    if not config.layout.repositories:
        return []
    from ..publishing import Artifacts      # rpm tooling only where it is used
    artifacts = Artifacts(config)
    events = [event for _, event in store.events_after(store.last_checkpoint_seq())]
    results = newest_results(client, set(artifacts.repositories), store.path)
    published = takeover.newest_snapshots(events, results)
    return takeover.publish_root_behind(artifacts, published)


def newest_results(client, repositories: set[str], place: str) -> Iterator[dict]:
    """Results, newest first, until each repository has been named by one
    (or RESULTS_LOOKED were read): every landing of a queue publishes each
    of its repositories, so the newest few name them all. (The nodes are
    store.py's `results/r-N`; reading them all costs a round trip each.)"""
    try:
        names = sorted((n for n in client.get_children(f"{ROOT}/results") if n != "items"),
                       reverse=True)
        for name in names[:RESULTS_LOOKED]:
            try:
                record = json.loads(client.get(f"{ROOT}/results/{name}")[0])
            except (NoNodeError, ValueError):
                continue
            yield record
            repositories -= set(record.get("snapshot") or ())
            if not repositories:
                return
    except KazooException as exc:
        raise StateError(f"{place}: the results cannot be read ({exc})") from None


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
