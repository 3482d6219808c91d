"""The active scheduler's side of merges done by `gateq merger` processes
(`zookeeper.mergers: true`), in place of merges.py's lanes: it posts merge
requests (mergeboard.py) and, as results come, unpacks their objects into
its repositories on the project's lane and journals the MergeCompleted,
then deletes the nodes. Nothing here waits for a merger.

A result whose objects did not fit in its node, or could not be added
here, is merged again here (merges.py), so a result is never lost to its
size. A scheduler that takes over adopts the requests its predecessor
made that the journal still asks for (the names are the item and its
generation), and deletes the others once it has resumed.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from kazoo.exceptions import KazooException, NoNodeError, NodeExistsError

from ..config.model import Config
from ..core import actions as act
from ..core.events import Event
from ..git.packs import unpack
from ..git.repo import GitError, has_commit
from ..merges import Merges
from ..workers import Answer, Lanes
from .client import guard, where
from .mergeboard import (CLAIMS, MERGERS, REQUESTS, RESULTS, MergeOutcome, encode_request,
                         request_name)

log = logging.getLogger("gateq.engine")

NO_MERGER_WARNING = 60.0       # seconds between warnings that merges wait for a merger


class RemoteMerges:
    """Invariant: `asked` holds every merge requested and not yet journaled;
    `taking` those whose result is being unpacked."""

    def __init__(self, config: Config, client, local: Merges,
                 record: Callable[[Event], None], clock: Callable[[], float]) -> None:
        self.config, self.zk, self.local = config, client, local
        self.record, self.clock = record, clock
        self.place = where(config.zookeeper)
        self.inbox = local.lanes.inbox
        self.lanes = Lanes("merge results", self.inbox)
        self.asked: dict[str, act.PrepareMerge] = {}
        self.taking: set[str] = set()
        self.results: list[str] = []
        self.mergers = 0
        self.watching = True
        self.warned_at = time.monotonic() - NO_MERGER_WARNING + 10   # the first after 10 s
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._watch_for_mergers, daemon=True,
                         name="merges wait for mergers").start()
        with guard(self.place, "prepare the merge requests"):
            for path in (REQUESTS, CLAIMS, RESULTS, MERGERS):
                self.zk.ensure_path(path)
            self.leftovers = set(self.zk.get_children(REQUESTS))
            self.zk.ChildrenWatch(RESULTS, self._results_changed)
            self.zk.ChildrenWatch(MERGERS, self._mergers_changed)

    @property
    def busy(self) -> int:
        return len(self.asked) + self.lanes.busy + self.local.busy

    def _results_changed(self, children) -> bool:
        with self.lock:
            self.results = list(children)
        self.inbox.post(self.take_results)        # on the loop
        return self.watching

    def _mergers_changed(self, children) -> bool:
        self.mergers = len(children)
        return self.watching

    # -- what the engine calls, as on merges.py -----------------------------

    def submit(self, action: act.PrepareMerge) -> None:
        name = request_name(action)
        with guard(self.place, f"ask for the merge of item {action.item}"):
            try:
                self.zk.create(f"{REQUESTS}/{name}", encode_request(action))
            except NodeExistsError:               # asked for by the scheduler before: adopted
                pass
        self.asked[name] = action
        self.take_results()

    def resumed(self) -> None:
        """The journal's merges are asked for: the predecessor's other
        requests, and their results, go."""
        for name in self.leftovers - set(self.asked):
            self._delete(name)
        self.leftovers = set()

    def stop(self, timeout: float) -> None:
        self.watching = False
        self.stopped.set()
        self.lanes.stop(timeout)
        self.local.stop(timeout)

    # -- results --------------------------------------------------------------

    def take_results(self) -> None:
        with self.lock:
            ready = [n for n in self.results if n in self.asked and n not in self.taking]
        for name in ready:
            self.taking.add(name)
            action = self.asked[name]
            self.lanes.submit(action.change.project, lambda n=name, a=action: self.collect(n, a))

    def collect(self, name: str, action: act.PrepareMerge) -> Answer:
        """On the project's lane: the result's objects into this host's
        repositories, then its journaling (or the merge done here)."""
        try:
            data, _ = self.zk.get(f"{RESULTS}/{name}")
            outcome = MergeOutcome.decode(data)
        except NoNodeError:
            return lambda: self.taking.discard(name)     # withdrawn meanwhile; asked again
        except (KazooException, ValueError, KeyError) as exc:
            log.warning("merge of item %d: its result cannot be read (%s): merging it here",
                        action.item, exc)
            return self._here(name, action)
        if outcome.unsent:
            log.info("merge of item %d: its objects were too big to send: merging it here",
                     action.item)
            return self._here(name, action)
        try:
            for project, pack in outcome.packs.items():
                unpack(self.local.merger.path(project), pack)
            missing = [c for p, _, c in outcome.state if p in outcome.packs
                       and not has_commit(self.local.merger.path(p), c)]
            if missing:
                raise GitError(f"commit {missing[0][:12]} did not come with it")
        except GitError as exc:
            log.warning("merge of item %d by %s: %s: merging it here", action.item,
                        outcome.merger, exc)
            return self._here(name, action)
        event = outcome.event(self.clock(), action)
        return lambda: self.done(name, event)

    def _here(self, name: str, action: act.PrepareMerge) -> Answer:
        answer = self.local.merge(action)
        return lambda: (answer(), self.forget(name))

    def done(self, name: str, event: Event) -> None:
        self.record(event)                   # journaled first: a kill here re-asks nothing
        self.forget(name)

    def forget(self, name: str) -> None:
        self.asked.pop(name, None)
        self.taking.discard(name)
        self._delete(name)

    def _delete(self, name: str) -> None:
        for path in (f"{RESULTS}/{name}", f"{REQUESTS}/{name}"):
            try:
                self.zk.delete(path)
            except NoNodeError:
                pass
            except KazooException:
                return                        # left for the next scheduler's resumed()

    def _watch_for_mergers(self) -> None:
        """On a thread of its own: say so while merges wait and no merger runs."""
        while not self.stopped.wait(1.0):
            now = time.monotonic()
            if self.asked and self.mergers == 0 and now - self.warned_at >= NO_MERGER_WARNING:
                self.warned_at = now
                log.warning("%d merge(s) wait for a merger: none is running (start gateq merger on "
                            "a host with this gateq.yaml)", len(self.asked))
