"""A forge connection: the driver interface over a forge's REST API and
git over HTTPS, one class for the three forges, each speaking through its
Dialect (gateq/drivers/<forge>/dialect.py).

Events come by webhook into the web service (webhook.py), which records
them in the state's intake table; the engine's lanes then `prepare` them
(fetch the head into the mirror). Here run reconciliation (source.py),
`change_info` and `pin` (asked of the API and the mirror), the lander
(lander.py) and the reporter (reporter.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import ClassVar, Iterable, Mapping, Sequence

from ...core.types import Change
from ...git import repo as git_repo
from ..base import (Connection, Deliver, DriverError, NotFound, Reconciled, TriggerQuery,
                    pin_on_branch)
from ..records import (ChangeInfo, ChangeRef, ConnectionStatus, LandRequest, LandResult,
                       LinkState, Origin, ReviewEvent, ReviewEventKind)
from .. import depends_on
from . import lander, pulls
from .deliveries import DeliveryLog
from .dialect import Dialect
from .mirror import ForgeMirror
from .reporter import ForgeReporter
from .rest import RestClient
from .source import ReconcileLoop

K = ReviewEventKind
EVENT_NAMES = {K.PROPOSED: "opened", K.COMMENT: "comment", K.APPROVED: "approved",
               K.ABANDONED: "closed", K.MERGED: "merged", K.RESTORED: "reopened",
               K.WIP_CHANGED: "draft-changed"}
NO_FETCH = (K.ABANDONED, K.MERGED)
NUMBER = re.compile(r"[#!]?(?P<number>[1-9]\d*)\Z")


def read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class ForgeConnection(Connection):
    """A `connections:` entry of a forge driver; each driver's subclass only
    names its `dialect`. The API client and the mirror keep no state of one
    call for the next, so every call may come from any thread."""
    dialect: ClassVar[Dialect]

    def __init__(self, name: str, settings: Mapping, state_dir: str,
                 web_urls: Mapping[str, str] | None = None) -> None:
        from ..registry import mirror_root
        self.name = name
        self.web_url = settings["web-url"]
        self.web_urls = dict(web_urls or {name: self.web_url})
        self.state_dir = state_dir
        self.reconcile_interval = settings["reconcile-interval"]
        token = read_secret(settings["token"])
        self.api = RestClient(name, settings["api-url"], self.dialect.auth_headers(token),
                              settings["timeout"], self.dialect.next_page)
        self.mirror = ForgeMirror(name, mirror_root(name, settings, state_dir),
                                  settings["git-url"], self.dialect.git_auth(token))
        self.reporter = ForgeReporter(self.api, self.dialect,
                                      lambda report: settings.get("status-url"))
        self.settings = settings
        self.projects: frozenset[str] | None = None
        self._source: ReconcileLoop | None = None

    @classmethod
    def from_settings(cls, name: str, settings: dict, state_dir: str,
                      web_urls: Mapping[str, str]) -> "ForgeConnection":
        return cls(name, settings, state_dir, web_urls)

    @classmethod
    def webhook_receiver(cls, name: str, settings: Mapping, state_dir: str, zookeeper=None):
        """The web service's payload handler for this connection (webhook.py);
        with `zookeeper` (its settings), the deliveries taken and the intake
        are ZooKeeper's, shared by every host's web service."""
        from .webhook import WebhookReceiver, intake_writer
        deliveries, shared = DeliveryLog.of(state_dir, name), None
        if zookeeper is not None:
            from ...zk.deliveries import ZkDeliveryLog
            from ...zk.shared import SharedStore
            shared = SharedStore(zookeeper, state_dir, create=True)
            deliveries = ZkDeliveryLog(shared.get, name)
        return WebhookReceiver(name, cls.dialect, read_secret(settings["webhook-secret"]).encode(),
                               deliveries, intake_writer(state_dir, name, shared),
                               settings["web-url"], shared)

    def repo_path(self, project: str) -> str:
        return self.mirror.ensure(project)

    # -- names --------------------------------------------------------------

    def event_name(self, kind: ReviewEventKind) -> str:
        return EVENT_NAMES.get(kind, kind.value)

    def change_ref(self, change: str) -> ChangeRef:
        """12, #12, !12 (GitLab's) or the head ref (refs/pull/12/head), else a ref as it is."""
        match = NUMBER.match(change)
        number = int(match["number"]) if match else self.dialect.number_of(change)
        if number is None:
            return ChangeRef(change)
        return ChangeRef(self.dialect.head_ref(number), None, number)

    # -- source -------------------------------------------------------------

    def start(self, deliver: Deliver, queries: Sequence[TriggerQuery] = (),
              projects: Iterable[str] | None = None) -> None:
        self.projects = frozenset(projects) if projects is not None else None
        self._source = ReconcileLoop(self.name, self.driver, self.reconcile, deliver, queries,
                                     self.reconcile_interval)
        self._source.start()

    def stop(self) -> None:
        if self._source is not None:
            self._source.stop()

    def status(self) -> ConnectionStatus:
        if self._source is None:
            return ConnectionStatus(self.name, self.driver, LinkState.STOPPED)
        return self._source.status()

    # -- the API --------------------------------------------------------------

    def get_pull(self, project: str, number: int) -> pulls.PullRequest:
        data = self.api.get(self.dialect.pull_path(project, number))
        try:
            return self.dialect.pull(project, data, self.web_url)
        except ValueError as exc:
            raise DriverError(f"{self.name}: pull request {number} of {project}: {exc}") from None

    def approved(self, project: str, number: int) -> bool:
        path = self.dialect.reviews_path(project, number)
        answer = list(self.api.pages(path)) if self.dialect.reviews_paged else self.api.get(path)
        return self.dialect.approved(answer)

    def branch_tip(self, project: str, branch: str) -> str | None:
        """The branch's commit as the forge's API shows it (None: no such branch)."""
        try:
            data = self.api.get(self.dialect.branch_path(project, branch))
        except NotFound:
            return None
        return self.dialect.branch_commit(data)

    # -- the mirror -----------------------------------------------------------

    def prepare(self, event: ReviewEvent) -> ReviewEvent:
        if event.change is None or event.change.number is None:
            return event
        if event.change.revision is None or event.branch is None:
            pull = self.get_pull(event.project, event.change.number)
            event = replace(event, branch=pull.branch, change=pull.change(), state=pull.state,
                            wip=pull.draft)
        if event.kind not in NO_FETCH and not git_repo.has_commit(
                self.repo_path(event.project), event.change.revision):
            self.mirror.fetch_pull(event.project, event.change.ref, event.branch)
        return event

    def fetch_change(self, change: Change) -> None:
        if not git_repo.has_commit(self.repo_path(change.project), change.revision):
            self.mirror.fetch_pull(change.project, change.ref, change.branch)

    def pin(self, project: str, change: ChangeRef, branch: str) -> Change:
        if change.revision is None and change.number is not None:
            change = self.get_pull(project, change.number).change()
        path = self.repo_path(project)
        self.mirror.fetch_pull(project, change.ref, branch)
        return pin_on_branch(path, project, change.ref, change.revision, branch,
                             f"pull request {change.target}")

    def change_info(self, project: str, change: ChangeRef, branch: str | None = None
                    ) -> ChangeInfo:
        number = change.number or self.dialect.number_of(change.ref)
        if number is None:
            raise NotFound(f"{self.name}: {change.target} names no pull request (give its number)")
        pull = self.get_pull(project, number)
        approved = self.approved(project, number)
        found = depends_on.parse(f"{pull.title}\n\n{pull.body}", self.web_urls)
        return pulls.change_info(self.name, pull, approved, found)

    def branch_tips(self, project: str, branches: Sequence[str]) -> dict[str, str]:
        self.mirror.fetch_branches(project)
        return git_repo.branch_tips(self.repo_path(project), list(branches))

    # -- reconciliation -------------------------------------------------------

    def reconcile(self, queries: Sequence[TriggerQuery]) -> Reconciled:
        """One paginated listing of open pull requests per project; reviews
        asked only of those a query needs approved."""
        began, listings, events = time.monotonic(), 0, []
        wanted = [q for q in queries if q.findable]
        for project in sorted({p for q in wanted for p in q.projects if self.serves(p)}):
            listings += 1
            for data in self.api.pages(self.dialect.open_pulls_path(project)):
                try:
                    pull = self.dialect.pull(project, data, self.web_url)
                except ValueError as exc:
                    raise DriverError(f"{self.name}: open pull requests of {project}: {exc}") \
                        from None
                events += self.matches(pull, [q for q in wanted if project in q.projects])
        fetch_began = time.monotonic()
        for event in events:
            if not git_repo.has_commit(self.repo_path(event.project), event.change.revision):
                self.mirror.fetch_pull(event.project, event.change.ref, event.branch)
        return Reconciled(tuple(events), listings, time.monotonic() - began,
                          time.monotonic() - fetch_began)

    def matches(self, pull: pulls.PullRequest, queries: list[TriggerQuery]) -> list[ReviewEvent]:
        found, approved = [], None
        for query in queries:
            if not query.wants_branch(pull.branch) or (query.wip is not None
                                                       and pull.draft != query.wip):
                continue
            if approved is None and any(label == pulls.APPROVED for label, _ in query.approvals):
                approved = self.approved(pull.project, pull.number)
            if pulls.meets(pull, bool(approved), dict(query.approvals)):
                found.append(ReviewEvent(self.name, query.kind, pull.project, pull.branch,
                                         pull.change(), pull.votes(bool(approved)),
                                         state=pull.state, wip=pull.draft,
                                         origin=Origin.RECONCILED, pipeline=query.pipeline))
        return found

    def serves(self, project: str) -> bool:
        return self.projects is None or project in self.projects

    # -- the lander -----------------------------------------------------------

    def land(self, request: LandRequest) -> LandResult:
        return lander.land(self.mirror, self.branch_tip, request)
