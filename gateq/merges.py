"""Merges carried out off the engine's loop, one lane per project.

Each item's speculative state is made by `git/merger.py` on the lane of its
project, so a slow repository holds up only its own merges; the answer
comes back to the loop as a journaled MergeCompleted, or, on a full disk,
as the merge put off until space is back.
"""
from __future__ import annotations

from typing import Callable

from .config.model import Config
from .core import actions as act
from .core.events import Event, MergeCompleted
from .core.types import MergeFailure
from .git.merger import BranchMissing, ChangeMissing, Merger, MergeConflict
from .git.repo import GitError
from .state.diskfull import disk_full_reason
from .workers import Answer, Inbox, Lanes

# A missing change or branch is final wherever the item is; anything else the
# merger refuses is a conflict, which an item ahead leaving may undo.
MERGE_FAILURES = {ChangeMissing: MergeFailure.CHANGE_MISSING, BranchMissing: MergeFailure.BRANCH_MISSING}


class Merges:
    def __init__(self, repo_path: Callable[[str], str], inbox: Inbox,
                 record: Callable[[Event], None], put_off: Callable[[act.Action, str], None],
                 clock: Callable[[], float]) -> None:
        self.merger = Merger(repo_path)
        self.lanes = Lanes("merges", inbox)
        self.record, self.put_off, self.clock = record, put_off, clock

    @property
    def busy(self) -> int:
        return self.lanes.busy

    def submit(self, action: act.PrepareMerge) -> None:
        self.lanes.submit(action.change.project, lambda: self.merge(action))

    def stop(self, timeout: float) -> None:
        self.lanes.stop(timeout)

    def resumed(self) -> None:
        """The journal's merges are under way (nothing was asked elsewhere)."""

    def merge(self, action: act.PrepareMerge) -> Answer:
        """On the project's lane: the answer journals the item's speculative
        state, or why there is none (a full disk puts the merge off)."""
        try:
            state, base_commit, bases = self.merger.merge_item(action)
            event = MergeCompleted(self.clock(), action.item, action.generation, state, base_commit,
                                   bases=bases)
        except (MergeConflict, GitError) as exc:
            full = disk_full_reason(exc)
            if full:                           # not the change's fault: put off, retried
                return lambda: self.put_off(action, full)
            event = MergeCompleted(self.clock(), action.item, action.generation,
                                   failure=MERGE_FAILURES.get(type(exc), MergeFailure.CONFLICT),
                                   reason=str(exc))
        return lambda: self.record(event)


def merges_for(config: Config, client, repo_path: Callable[[str], str], inbox: Inbox,
               record: Callable[[Event], None], put_off: Callable[[act.Action, str], None],
               clock: Callable[[], float]):
    """Merges on this process's lanes, or asked of `gateq merger` processes
    (zookeeper.mergers; `client`: the scheduler's ZooKeeper client)."""
    local = Merges(repo_path, inbox, record, put_off, clock)
    if client is None or config.zookeeper is None or not config.zookeeper.mergers:
        return local
    from .zk.remote_merges import RemoteMerges
    return RemoteMerges(config, client, local, record, clock)
