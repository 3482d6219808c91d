"""The driver interface: what the engine needs from one connection.

- the source: the system's events as ReviewEvents (`start`, `status`,
  `reconcile`), and a change's information on request (`change_info`);
- the mirror: gateq's own copy of each project (`repo_path`), where the
  merger works; `prepare` brings an event's commits into it and `pin`
  turns a change into the revision the queue will test;
- the lander: `land`, a compare-and-swap of the branch on the system;
- the reporter (`reporter`, None where reports stay in the results store).

Records are in records.py. docs/connections.md says when the engine calls
what, on which thread; nothing outside a driver's package knows its protocol.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Mapping, Sequence

from ..core.types import Change
from .records import (ChangeInfo, ChangeRef, ConnectionStatus, LandRequest, LandResult, Report,
                      ReviewEvent, ReviewEventKind)

Deliver = Callable[[ReviewEvent], None]


class DriverError(Exception):
    """A driver could not do what was asked; the message is one line."""


class Unreachable(DriverError):
    """The system could not be reached, or did not answer in time: try again later."""


class NotFound(DriverError):
    """The change, ref or branch asked about does not exist."""


class AlreadyOnBranch(DriverError):
    """The change's revision is on its target branch already: nothing to test or land."""


def pin_on_branch(repo_path: str, project: str, ref: str, revision: str, branch: str,
                  named: str | None = None) -> Change:
    """A change's revision pinned with its commits not yet on `branch`, in
    the driver's words: NotFound for a missing branch, AlreadyOnBranch when
    the branch holds the revision already."""
    from ..git.changes import AlreadyLanded, NoBranch, pin_revision
    try:
        return pin_revision(repo_path, project, ref, revision, branch, named)
    except NoBranch as exc:
        raise NotFound(str(exc)) from None
    except AlreadyLanded as exc:
        raise AlreadyOnBranch(str(exc)) from None


class ReportRefused(DriverError):
    """The system refused a report (it ran and said no): sending it again will not help."""


@dataclass(frozen=True)
class TriggerQuery:
    """What one pipeline trigger asks of a connection, for reconciliation:
    open changes of `projects` whose current patch set carries `approvals`
    (the trigger's and the pipeline's required votes), on a branch matching
    `branch` (a regular expression, searched),
    and, when `wip` is not None, with that work-in-progress state.

    A COMMENT trigger without approvals (a `recheck` comment) names a
    happening, not a state: reconciliation cannot find it and skips it."""
    pipeline: str
    kind: ReviewEventKind
    projects: tuple[str, ...]
    approvals: tuple[tuple[str, int], ...] = ()
    branch: str | None = None
    wip: bool | None = False

    @property
    def findable(self) -> bool:
        return not (self.kind is ReviewEventKind.COMMENT and not self.approvals)

    def wants_branch(self, branch: str | None) -> bool:
        """The branch regex is searched, as the core matches triggers."""
        return self.branch is None or (branch is not None and re.search(self.branch, branch) is not None)


@dataclass(frozen=True)
class Reconciled:
    """One reconciliation run: the events found, and what it cost."""
    events: tuple[ReviewEvent, ...]
    queries: int
    seconds: float
    fetch_seconds: float = 0.0


class Reporter(abc.ABC):
    """Says a report on the system; the outbox calls it from its worker thread."""

    @abc.abstractmethod
    def deliver(self, report: Report, timeout: float) -> None:
        """Send it, within `timeout` seconds. Raises Unreachable when the
        outcome is unknown (retried), ReportRefused when the system said no."""

    @abc.abstractmethod
    def delivered(self, report: Report, timeout: float) -> bool:
        """Whether the system already shows this report (by its id): asked
        before sending again a report whose earlier attempt may have arrived."""


class Connection(abc.ABC):
    """One entry of `connections:`. Thread-safety: `prepare`, `pin`,
    `change_info`, `branch_tips` and `land` may be called from any thread;
    `deliver` is called from the connection's own threads, one at a time."""
    driver: ClassVar[str]
    name: str
    reporter: Reporter | None = None
    report_timeout: float = 30.0      # seconds one report attempt may take (the outbox's)
    report_retry: float = 2.0         # seconds before a failed report is sent again, doubling

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, name: str, settings: dict, state_dir: str,
                      web_urls: Mapping[str, str]) -> "Connection":
        """The connection of a `connections:` entry as its schema completed
        it; `web_urls` maps every gerrit connection to its web-url."""

    @abc.abstractmethod
    def repo_path(self, project: str) -> str:
        """The local repository of `project` the merger works in."""

    @abc.abstractmethod
    def start(self, deliver: Deliver, queries: Sequence[TriggerQuery] = (),
              projects: Iterable[str] | None = None) -> None:
        """Begin handing events to `deliver` (prepared: their commits are in
        the mirror) for `projects` (the layout's projects on this connection;
        None: every project); returns at once, even when the system is down."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the connection's threads (bounded: a few seconds at most)."""

    @abc.abstractmethod
    def status(self) -> ConnectionStatus:
        ...

    @abc.abstractmethod
    def prepare(self, event: ReviewEvent) -> ReviewEvent:
        """The event with what it lacks filled in (revision, patch set) and
        its commits fetched into the mirror. Raises DriverError."""

    def fetch_change(self, change: Change) -> None:
        """Make a change the journal holds present in repo_path: a scheduler
        taking over on another host has a mirror of its own, which may lack
        it. Raises DriverError. The git driver's repositories are the source."""

    @abc.abstractmethod
    def pin(self, project: str, change: ChangeRef, branch: str) -> Change:
        """The change as the queue tests it: its revision and the commits
        not yet on `branch`, read from the mirror. Raises DriverError
        (AlreadyLanded, a GitError, when it is on the branch already)."""

    @abc.abstractmethod
    def change_info(self, project: str, change: ChangeRef, branch: str | None = None
                    ) -> ChangeInfo:
        """The change's state now: patch set, votes, open/WIP, dependencies.
        `branch` is the branch the change is for, where the system cannot
        tell (a git ref); systems that know it ignore it."""

    @abc.abstractmethod
    def reconcile(self, queries: Sequence[TriggerQuery]) -> Reconciled:
        """Open changes that meet `queries` now, as prepared ReviewEvents."""

    @abc.abstractmethod
    def branch_tips(self, project: str, branches: Sequence[str]) -> dict[str, str]:
        """Tips of the branches that exist, brought up to date in the mirror."""

    # -- names: the driver's words for events and changes -------------------

    def event_name(self, kind: ReviewEventKind) -> str:
        """The name a pipeline trigger gives events of `kind` on this system."""
        return kind.value

    def event_kind(self, name: str) -> ReviewEventKind | None:
        """The kind of a trigger's event name (None: not one of this driver's)."""
        return next((k for k in ReviewEventKind if self.event_name(k) == name), None)

    def comment_text(self, event: ReviewEvent) -> str | None:
        """What the person wrote, as a trigger's `comment` regex reads it."""
        return event.comment

    def change_ref(self, change: str) -> ChangeRef:
        """A change as a user names it on the command line (a ref, for git)."""
        return ChangeRef(change)

    @abc.abstractmethod
    def land(self, request: LandRequest) -> LandResult:
        """Move the branch on the system from `old` to `new` (or have the
        system merge the change); idempotent: a retry after a landing that
        happened says LANDED."""
