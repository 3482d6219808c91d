"""A gerrit connection: the driver interface over Gerrit's SSH protocol.

Three SSH sessions, so one stuck command cannot hold up another kind:
stream-events (the source's own), commands (queries, submit), and the
reporter's. git goes through the mirror (OpenSSH). See source.py for the
events, mirror.py for fetching, lander.py and reporter.py.
"""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

from ...core.types import Change
from ...git import repo as git_repo
from ..base import (Connection, Deliver, NotFound, Reconciled, TriggerQuery, Unreachable,
                    pin_on_branch)
from ..records import (ChangeInfo, ChangeRef, ConnectionStatus, LandRequest, LandResult, LinkState,
                       ReviewEvent, ReviewEventKind)
from . import reconcile as reconciliation
from .backoff import Backoff
from .connect import SSHSettings
from .errors import GerritError
from .lander import land_push, land_submit
from .mirror import Mirror
from .query import OPTIONS, ChangeRecord, query_changes
from .reporter import GerritReporter
from .schema import LandMode
from .source import GerritSource
from .ssh import GerritSSH
from .links import parse_change, patchset_ref
from .translate import EVENT_NAMES, change_info, user_comment

NO_FETCH = (ReviewEventKind.ABANDONED, ReviewEventKind.MERGED)


class GerritConnection(Connection):
    driver = "gerrit"

    def __init__(self, name: str, ssh: SSHSettings, git_url: str, web_url: str,
                 mirror_root: str, land: LandMode = LandMode.PUSH,
                 reconcile_interval: float = 300, web_urls: Mapping[str, str] | None = None,
                 backoff: Backoff | None = None) -> None:
        self.name = name
        self.settings = ssh
        self.web_url = web_url
        self.land_mode = land
        self.reconcile_interval = reconcile_interval
        self.web_urls = dict(web_urls or {name: web_url})
        self.ssh = GerritSSH(ssh)
        self.stream_ssh = GerritSSH(ssh)
        self.reporter = GerritReporter(GerritSSH(ssh))
        self.mirror = Mirror(mirror_root, git_url, ssh)
        self.backoff = backoff
        self.projects: frozenset[str] | None = None
        self._source: GerritSource | None = None

    @classmethod
    def from_settings(cls, name: str, settings: dict, state_dir: str,
                      web_urls: Mapping[str, str]) -> "GerritConnection":
        ssh = SSHSettings(settings["server"], settings["user"], settings["sshkey"],
                          settings["known-hosts"], settings["port"],
                          connect_timeout=settings.get("connect-timeout", 10),
                          command_timeout=settings.get("command-timeout", 30),
                          keepalive=settings.get("keepalive", 15))
        from ..registry import mirror_root
        mirror = mirror_root(name, settings, state_dir)
        connection = cls(name, ssh, settings["git-url"], settings["web-url"], mirror,
                         settings["land"], settings["reconcile-interval"], web_urls,
                         Backoff(initial=min(1.0, settings.get("reconnect-max", 60)),
                                 maximum=settings.get("reconnect-max", 60)))
        connection.report_timeout = settings.get("report-timeout", 30)
        connection.report_retry = settings.get("report-retry", 2)
        return connection

    def repo_path(self, project: str) -> str:
        return self.mirror.ensure(project)

    # -- names --------------------------------------------------------------

    def event_name(self, kind: ReviewEventKind) -> str:
        return next(name for name, k in EVENT_NAMES.items() if k is kind) \
            if kind in EVENT_NAMES.values() else kind.value

    def comment_text(self, event: ReviewEvent) -> str | None:
        return user_comment(event.comment)

    def change_ref(self, change: str) -> ChangeRef:
        """1234, 1234,2 or refs/changes/34/1234/2 (a ref stays a ref otherwise)."""
        found = parse_change(change)
        if found is None:
            return ChangeRef(change)
        number, patchset = found
        return ChangeRef(patchset_ref(number, patchset) if patchset else None, None, number,
                         patchset)

    def serves(self, project: str) -> bool:
        return self.projects is None or project in self.projects

    # -- source -------------------------------------------------------------

    def start(self, deliver: Deliver, queries: Sequence[TriggerQuery] = (),
              projects: Iterable[str] | None = None) -> None:
        self.projects = frozenset(projects) if projects is not None else None
        for project in self.projects or ():
            self.mirror.ensure(project)
        self._source = GerritSource(self, deliver, queries, self.reconcile_interval, self.backoff)
        self._source.start()

    def stop(self) -> None:
        if self._source is not None:
            self._source.stop()
        for ssh in (self.ssh, self.stream_ssh, self.reporter.ssh):
            ssh.close()

    def status(self) -> ConnectionStatus:
        if self._source is None:
            return ConnectionStatus(self.name, self.driver, LinkState.STOPPED)
        return self._source.status()

    def sync_branches(self) -> None:
        """Every branch of every project served, as Gerrit has them now."""
        for project in sorted(self.projects or ()):
            self.mirror.fetch_branches(project)

    def prepare(self, event: ReviewEvent) -> ReviewEvent:
        if event.kind is ReviewEventKind.REF_UPDATED:
            self._follow_ref(event)
            return event
        if event.change is None:
            return event
        change = event.change
        if change.ref is None or change.revision is None or change.patchset is None:
            change = self._complete(event.project, change)
            event = event.with_change(change)
        if event.kind in NO_FETCH:
            if event.branch:
                self.mirror.fetch_branches(event.project, [event.branch])
            return event
        if not self.mirror.has(event.project, change.revision):
            self.mirror.fetch_patchsets(event.project, [change.ref],
                                        [event.branch] if event.branch else [])
            self.mirror.remember(event.project, change.revision)
        return event

    def fetch_change(self, change: Change) -> None:
        if not self.mirror.has(change.project, change.revision):
            self.mirror.fetch_patchsets(change.project, [change.ref], [change.branch])
            self.mirror.remember(change.project, change.revision)

    def _follow_ref(self, event: ReviewEvent) -> None:
        move, branch = event.ref_move, event.ref_move.branch if event.ref_move else None
        if branch is None:
            return
        if move.new is None:
            git_repo.run(self.repo_path(event.project), "update-ref", "-d", move.ref)
        elif git_repo.resolve(self.repo_path(event.project), move.ref) != move.new:
            self.mirror.fetch_branches(event.project, [branch])    # not gateq's own landing

    def _complete(self, project: str, change: ChangeRef) -> ChangeRef:
        """Number, patch set and ref of a change a hook named by its commit."""
        query = (f"commit:{change.revision}" if change.revision else f"change:{change.number}")
        record = self._one(project, query, ("--format", "JSON", "--current-patch-set",
                                            "--patch-sets"))
        patchsets = record.patchsets or ()
        found = next((ps for ps in patchsets if ps.revision == change.revision), None)
        if found is None and change.revision is None:
            wanted = change.patchset or record.patchset
            found = next((ps for ps in patchsets if ps.number == wanted), None)
        if found is None:
            raise NotFound(f"gerrit {self.settings.name}: change {change.target} has no patch "
                           f"set {change.revision or ''}".rstrip())
        return ChangeRef(found.ref, found.revision, record.number, found.number,
                         change.url or record.url)

    def _query(self, query: str, options: Sequence[str] = OPTIONS) -> list[ChangeRecord]:
        try:
            return query_changes(self.ssh, query, options=options)
        except GerritError as exc:
            raise Unreachable(str(exc)) from None

    def _one(self, project: str | None, query: str, options: Sequence[str] = OPTIONS
             ) -> ChangeRecord:
        """The change `query` finds in `project` (None: wherever it is)."""
        found = [r for r in self._query(query, options)
                 if project is None or r.project in (None, project)]
        if not found:
            raise NotFound(f"gerrit {self.settings.name}: no change {query} in {project}")
        return found[0]

    def pin(self, project: str, change: ChangeRef, branch: str) -> Change:
        if change.ref is None or change.revision is None:
            change = self._complete(project, change)
        path = self.repo_path(project)
        # The mirror's branches follow Gerrit's (ref-updated events, each
        # prepared before later events; a sync on every connection): fetch
        # only what is missing. A branch behind after all makes the landing's
        # compare-and-swap fail, and the queue is rebuilt on the real tip.
        missing = not self.mirror.has(project, change.revision)
        if missing or git_repo.resolve(path, "refs/heads/" + branch) is None:
            self.mirror.fetch_patchsets(project, [change.ref] if missing else [], [branch])
        return pin_on_branch(path, project, change.ref, change.revision, branch,
                             f"change {change.target}")

    def change_info(self, project: str, change: ChangeRef, branch: str | None = None
                    ) -> ChangeInfo:
        query = f"change:{change.number}" if change.number else f"commit:{change.revision}"
        record = self._one(project, query)
        numbers = [d.number for d in record.depends_on if d.number]
        open_numbers: set[int] = set()
        if numbers:
            parents = self._query("status:open (" + " OR ".join(f"change:{n}" for n in numbers)
                                  + ")")
            open_numbers = {r.number for r in parents}
        return change_info(self.name, record, self.web_urls, open_numbers)

    def reconcile(self, queries: Sequence[TriggerQuery]) -> Reconciled:
        try:
            found = reconciliation.find(self.ssh, self.name, queries, self.projects)
        except GerritError as exc:
            raise Unreachable(str(exc)) from None
        began = time.monotonic()
        by_project: dict[str, list[ChangeRecord]] = {}
        for record in found.records:
            if record.is_open and record.ref and not self.mirror.has(record.project, record.revision):
                by_project.setdefault(record.project, []).append(record)
        for project, records in by_project.items():
            self.mirror.fetch_patchsets(project, [r.ref for r in records],
                                        sorted({r.branch for r in records if r.branch}))
            for record in records:
                self.mirror.remember(project, record.revision)
        return Reconciled(found.events, found.queries, found.seconds, time.monotonic() - began)

    def branch_tips(self, project: str, branches: Sequence[str]) -> dict[str, str]:
        self.mirror.fetch_branches(project)
        return self.mirror.tips(project, branches)

    # -- lander -------------------------------------------------------------

    def land(self, request: LandRequest) -> LandResult:
        if self.land_mode is LandMode.SUBMIT:
            return land_submit(self.ssh, self.mirror, request)
        return land_push(self.mirror, request, self.ssh)

