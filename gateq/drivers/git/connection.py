"""The git driver's connection: local repositories under a root, which are
both the system and gateq's mirror. Events come from `gateq event` and the
post-receive hook (both journal directly), so the source has nothing to
listen to and nothing to reconcile; landing is `update-ref NEW OLD`
(gateq/git/land.py) and there is no reporter: results stay in the store.
"""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

from ...config.model import GitConnection
from ...core.types import Change, full_ref
from ...git import repo as git_repo
from ...git.changes import AlreadyLanded, resolve_change
from ...git.land import land
from ...git.repo import GitError
from .. import depends_on
from ..base import (AlreadyOnBranch, Connection, Deliver, DriverError, NotFound, Reconciled,
                    TriggerQuery)
from ..records import (ChangeInfo, ChangeRef, ChangeState, ConnectionStatus, LandOutcome,
                       LandRequest, LandResult, LinkState, ReviewEvent)
from .proposals import proposals


class GitDriverConnection(Connection):
    driver = "git"

    def __init__(self, name: str, root: str, web_urls: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.local = GitConnection(name, root)
        self.web_urls = dict(web_urls or {})
        self._since: float | None = None

    @classmethod
    def from_settings(cls, name: str, settings: dict, state_dir: str,
                      web_urls: Mapping[str, str]) -> "GitDriverConnection":
        return cls(name, settings["root"], web_urls)

    def repo_path(self, project: str) -> str:
        return self.local.repo_path(project)

    # -- source -------------------------------------------------------------

    def start(self, deliver: Deliver, queries: Sequence[TriggerQuery] = (),
              projects: Iterable[str] | None = None) -> None:
        self._since = time.time()

    def stop(self) -> None:
        pass

    def status(self) -> ConnectionStatus:
        return ConnectionStatus(self.name, self.driver, LinkState.LOCAL, self._since)

    def reconcile(self, queries: Sequence[TriggerQuery]) -> Reconciled:
        return Reconciled((), 0, 0.0)

    def prepare(self, event: ReviewEvent) -> ReviewEvent:
        """Pin a change named only by its ref to the revision it has now."""
        change = event.change
        if change is None or change.revision is not None or change.ref is None:
            return event
        revision = self._resolve(event.project, change.ref)
        return event.with_change(ChangeRef(change.ref, revision, change.number, change.patchset,
                                           change.url))

    def pin(self, project: str, change: ChangeRef, branch: str) -> Change:
        """A ref alone is pinned as `gateq event` pins it (gateq/git/changes.py);
        a known revision stays the one tested, wherever the ref went since."""
        if change.revision is None:
            try:
                return resolve_change(self.repo_path(project), project, change.ref or "", branch)
            except AlreadyLanded as exc:
                raise AlreadyOnBranch(str(exc)) from None
            except (GitError, ValueError) as exc:
                raise NotFound(str(exc)) from None
        ref = change.ref or change.revision
        commits = self._commits(project, change.revision, branch)
        if not commits:
            raise AlreadyOnBranch(f"project {project}: {ref} ({change.revision[:12]}) is already "
                                  f"on branch {branch}: there is nothing to test or land")
        return Change(project=project, ref=ref, branch=branch, revision=change.revision,
                      commits=frozenset(commits))

    def change_info(self, project: str, change: ChangeRef, branch: str | None = None) -> ChangeInfo:
        """A ref that is gone is an abandoned change (its proposal was
        withdrawn); one whose revision is on `branch` has merged. The git
        driver does not know a ref's branch: the caller says it."""
        if branch is None:
            raise DriverError(f"project {project}: the git driver needs the branch of {change.target}")
        path = self.repo_path(project)
        current = git_repo.resolve(path, full_ref(change.ref)) if change.ref else change.revision
        revision = change.revision or current
        if revision is None or (change.ref and current is None):
            return ChangeInfo(self.name, project, branch, change, ChangeState.ABANDONED)
        ref = ChangeRef(change.ref, revision, change.number, change.patchset, change.url)
        commits = self._commits(project, revision, branch)
        message = self._git(path, "log", "-1", "--format=%B", revision, strip=False)
        parents, stale = self._parents(path, revision, set(commits))
        return ChangeInfo(self.name, project, branch, ref,
                          ChangeState.OPEN if commits else ChangeState.MERGED,
                          commit_message=message, subject=message.split("\n", 1)[0],
                          depends_on=depends_on.parse(message, self.web_urls),
                          parents=parents, stale_parents=stale)

    def branch_tips(self, project: str, branches: Sequence[str]) -> dict[str, str]:
        return self._call(git_repo.branch_tips, self.repo_path(project), list(branches))

    # -- lander -------------------------------------------------------------

    def land(self, request: LandRequest) -> LandResult:
        """A GitError (a held lock, a broken repository) leaves the outcome
        unknown, so it says UNREACHABLE: try again."""
        path = self.repo_path(request.project)
        try:
            ok, reason = land(path, request.branch, request.old, request.new)
        except GitError as exc:
            return LandResult(LandOutcome.UNREACHABLE, reason=str(exc))
        if ok:
            return LandResult(LandOutcome.LANDED, request.new)
        current = git_repo.resolve(path, "refs/heads/" + request.branch)
        return LandResult(LandOutcome.DELETED if current is None else LandOutcome.MOVED,
                          current, reason=reason)

    # -- helpers ------------------------------------------------------------

    def _resolve(self, project: str, ref: str) -> str:
        revision = self._call(git_repo.resolve, self.repo_path(project), full_ref(ref))
        if revision is None:
            raise NotFound(f"project {project}: no ref {ref}")
        return revision

    def _commits(self, project: str, revision: str, branch: str) -> list[str]:
        path = self.repo_path(project)
        target = self._call(git_repo.resolve, path, "refs/heads/" + branch)
        if target is None:
            raise NotFound(f"project {project}: no branch {branch}")
        return self._git(path, "rev-list", revision, "^" + target).split()

    def _parents(self, path: str, revision: str, commits: set[str]
                 ) -> tuple[tuple[ChangeRef, ...], tuple[int, ...]]:
        """Proposed changes (refs/changes/...) whose commits this one is built on."""
        parents, stale = [], []
        for number, patchsets in sorted(self._call(proposals, path).items()):
            for proposal in patchsets:
                if proposal.revision in commits and proposal.revision != revision:
                    parents.append(ChangeRef(proposal.ref, proposal.revision, number,
                                             proposal.patchset))
                    if proposal is not patchsets[-1]:
                        stale.append(number)
        return tuple(parents), tuple(stale)

    def _git(self, path: str, *args: str, strip: bool = True) -> str:
        return self._call(git_repo.git, path, *args, strip=strip)

    @staticmethod
    def _call(function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GitError as exc:
            raise DriverError(str(exc)) from None
