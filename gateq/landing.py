"""Carrying out a Land: the branches move on their systems, then (once
every one of them holds the tested commit) the snapshots are published.

Runs on the landing lane (workers.py), never on the loop: a Gerrit push
or submit can take a minute. One lane, so landings are made one at a
time, and the loop runs neither the publisher nor the garbage collector
while one is under way.

How the branches move:
- every project on a git connection: `land_all` (git/land.py), a
  compare-and-swap per branch, made whole or undone, journaled;
- otherwise each move goes to its connection's lander (a push with a
  lease, or Gerrit's submit), in order, the moves journaled first:
  * a system that cannot be reached leaves the landing to be tried again
    later (every lander says LANDED for a move already made, so trying the
    whole landing again finishes it);
  * a branch that moved, was deleted, or a system that refuses, before
    anything landed: the landing fails with the reason; after something
    landed, the git moves are undone, the others cannot be (a change merged
    on Gerrit stays merged) and the reason says so;
  * a landing whose landed tree is not the tested one (Gerrit submitted
    differently) publishes nothing, and says so.
"""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Callable

from .builds import change_number
from .core import actions as act
from .core.events import LandCompleted
from .drivers.base import DriverError
from .drivers.records import ChangeRef, LandOutcome, LandRequest, LandResult
from .git import land as git_land
from .git.repo import GitError
from .review.connections import Connections
from .state import DiskFull
from .state.diskfull import disk_full_reason
from .workers import Answer, Inbox, Lane

log = logging.getLogger("gateq.engine")

RETRY_FIRST, RETRY_MAX = 2.0, 60.0     # seconds before trying an unreachable system again


class Outcome(enum.Enum):
    LANDED = "landed"
    FAILED = "failed"              # nothing landed that the failure did not undo, or it says so
    RETRY = "retry"                # the system could not be reached: try the landing again


@dataclass(frozen=True)
class Landed:
    """What a landing came to, for the loop: LandCompleted's fields, and
    whether it is to be tried again."""
    outcome: Outcome
    commit: str | None = None
    reason: str | None = None
    snapshots: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Moved:
    """What moving the branches came to (before anything is published)."""
    outcome: Outcome
    commit: str | None = None
    reason: str | None = None
    publish: bool = True           # False: it landed, but not the tree tested


class Landing:
    def __init__(self, connections: Connections, artifacts, journal: str,
                 labels: Callable[[int, str], tuple[tuple[str, int], ...]]) -> None:
        self.connections = connections
        self.artifacts = artifacts         # publishing.Artifacts, or None
        self.journal = journal
        self.labels = labels               # (item, connection) -> its success votes there

    def finish_interrupted(self) -> str | None:
        """At a start: a landing of several git branches cut short is made
        whole (git/land.py); one that also moved branches elsewhere is
        left to the landing itself, tried again once the item resumes."""
        moves = git_land.read_journal(self.journal)
        if moves is None:
            return None
        if all(self.connections.is_local(m.project) for m in moves):
            return git_land.finish_interrupted(self.connections.repo_path, self.journal)
        git_land.clear_journal(self.journal)
        return ("an interrupted landing of " + ", ".join(f"{m.project}/{m.branch}" for m in moves)
                + " is tried again as its item resumes")

    def carry_out(self, action: act.Land) -> Landed:
        """Move the branches, and publish if they hold what was tested.
        Raises what a full disk raises (the loop puts the landing off) and
        LandingInterrupted (finished at the next start)."""
        moved: list[Moved] = []

        def move_branch() -> tuple[bool, str | None]:
            moved.append(self.move(action))
            return moved[0].outcome is Outcome.LANDED and moved[0].publish, moved[0].reason
        if self.artifacts:
            ok, _, snapshots = self.artifacts.land(action, move_branch)
        else:
            ok, snapshots = move_branch()[0], ()
        result = moved[0] if moved else Moved(Outcome.LANDED, action.new)
        if ok or result.outcome is not Outcome.LANDED:
            return Landed(result.outcome, result.commit, result.reason, snapshots)
        return Landed(Outcome.LANDED, result.commit, result.reason, ())   # landed, published nothing

    def move(self, action: act.Land) -> Moved:
        if all(self.connections.is_local(m.project) for m in action.moves):
            return self.move_local(action)
        if len(action.moves) > 1:
            git_land.write_journal(self.journal, action.moves)
        done: list[tuple[act.Move, LandResult]] = []
        for move in action.moves:
            result = self.connections.of(move.project).land(self.request(action, move))
            if result.outcome is LandOutcome.UNREACHABLE:
                return Moved(Outcome.RETRY, reason=result.reason)    # the journal stays
            if not result.ok:
                return self.failed(done, move, result)
            done.append((move, result))
        git_land.clear_journal(self.journal)
        first = done[0][1]
        mismatched = [r.reason for _, r in done if not r.tree_matches]
        if mismatched:
            return Moved(Outcome.LANDED, first.commit, f"{mismatched[0]}: nothing was published",
                         publish=False)
        return Moved(Outcome.LANDED, first.commit or action.new)

    def move_local(self, action: act.Land) -> Moved:
        try:
            ok, reason = git_land.land_all(self.connections.repo_path, action.moves, self.journal)
        except git_land.LandingInterrupted:
            raise                          # some branches moved: finished at the next start
        except GitError as exc:
            return Moved(Outcome.FAILED, reason=str(exc))
        return Moved(Outcome.LANDED if ok else Outcome.FAILED, action.new if ok else None, reason)

    def failed(self, done: list[tuple[act.Move, LandResult]], move: act.Move,
               result: LandResult) -> Moved:
        """Undo what can be undone (git moves); say what stays."""
        kept = []
        for made, _ in reversed(done):
            if not self.connections.is_local(made.project) or not self.undo(made):
                kept.append(f"{made.project}/{made.branch}")
        git_land.clear_journal(self.journal)
        note = f"; {', '.join(reversed(kept))} landed and stay" if kept else ""
        return Moved(Outcome.FAILED, result.commit, f"{move.project}: {result.reason}{note}")

    def undo(self, move: act.Move) -> bool:
        try:
            return git_land.land(self.connections.repo_path(move.project), move.branch,
                                 move.new, move.old)[0]
        except (GitError, DriverError):
            return False

    def request(self, action: act.Land, move: act.Move) -> LandRequest:
        """The change of that branch (the last, in a batch) and the votes
        a system that merges itself needs (Gerrit's submit)."""
        mine = [c for c in action.changes if (c.project, c.branch) == (move.project, move.branch)]
        change = mine[-1] if mine else None
        connection = self.connections.of(move.project).name
        ref = None
        if change is not None:
            number, patchset = change_number(change)
            ref = ChangeRef(change.ref, change.revision, number, patchset,
                            change.url)
        return LandRequest(move.project, move.branch, move.old, move.new, ref,
                           self.labels(action.item, connection))


class Landings:
    """Landings handed to the landing lane, one at a time, and those
    waiting to be tried again. `in_flight`: one is being carried out (the
    loop then runs neither the publisher nor the garbage collector)."""

    def __init__(self, landing: Landing, inbox: Inbox, finish: Callable[[act.Land, Landed], None],
                 put_off: Callable[[act.Land, str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.landing = landing
        self.lane = Lane("landing", inbox)
        self.finish, self.put_off, self.clock = finish, put_off, clock
        self.retries: dict[int, tuple[float, act.Land]] = {}   # item: (when, the landing)
        self.delays: dict[int, float] = {}

    @property
    def in_flight(self) -> bool:
        return self.lane.busy > 0

    def submit(self, action: act.Land) -> None:
        self.lane.submit(lambda: self.carry_out(action))

    def poll(self) -> None:
        now = self.clock()
        for item, (due, action) in list(self.retries.items()):
            if due <= now:
                del self.retries[item]
                self.submit(action)

    def carry_out(self, action: act.Land) -> Answer:
        try:
            landed = self.landing.carry_out(action)
        except (DiskFull, OSError, GitError) as exc:
            reason = disk_full_reason(exc)
            if reason is None:
                raise
            return lambda: self.put_off(action, reason)
        return lambda: self.answered(action, landed)

    def answered(self, action: act.Land, landed: Landed) -> None:
        if landed.outcome is not Outcome.RETRY:
            self.delays.pop(action.item, None)
            self.finish(action, landed)
            return
        delay = self.delays[action.item] = min(RETRY_MAX, self.delays.get(action.item,
                                                                          RETRY_FIRST / 2) * 2)
        self.retries[action.item] = (self.clock() + delay, action)
        log.warning("item %d: landing on %s/%s tried again in %gs: %s", action.item,
                    action.project, action.branch, delay, landed.reason)

    def stop(self, timeout: float) -> None:
        self.lane.stop(timeout)


def completion(action: act.Land, landed: Landed, now: float) -> LandCompleted:
    """The journal's record of a landing's end, logged as a maintainer reads it."""
    ok = landed.outcome is Outcome.LANDED
    if ok:
        published = "".join(f", published {repo} snapshot {n}" for repo, n in landed.snapshots)
        note = f" ({landed.reason})" if landed.reason else ""
        landed_as = {action.moves[0].project: landed.commit} if landed.commit else {}
        log.info("item %d landed %s on %s%s%s", action.item,
                 ", ".join(c.name for c in action.changes),
                 ", ".join(f"{m.project}/{m.branch} as {landed_as.get(m.project, m.new)[:12]}"
                           for m in action.moves),
                 published, note)
    else:
        log.warning("item %d could not land on %s/%s: %s", action.item, action.project,
                    action.branch, landed.reason)
    return LandCompleted(now, action.item, action.generation, ok,
                         (landed.commit or action.new) if ok else None, landed.reason,
                         landed.snapshots)
