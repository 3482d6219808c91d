"""Changes and patch sets, as Gerrit makes them: what a push to
refs/for/<branch> creates, and how a branch update closes the changes whose
commits reached it.

A push for review is all or nothing: every new commit must have one
Change-Id footer; a commit whose Change-Id names an open change of the
same project and branch becomes that change's next patch set, any other
becomes a new change. Patch set P of change N lives at
refs/changes/<N mod 100, two digits>/N/P.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import events, repos
from .model import Change, Message, PatchSet, Status
from .site import Refused, Site, now


@dataclass(frozen=True)
class Uploaded:
    number: int
    patchset: int
    subject: str
    new_change: bool


def patchset_ref(number: int, patchset: int) -> str:
    return f"refs/changes/{number % 100:02d}/{number}/{patchset}"


def upload(site: Site, project: str, branch: str, tip: str, uploader: str,
           topic: str | None = None, wip: bool | None = None) -> list[Uploaded]:
    """Turn the commits of `tip` not yet on any branch into changes or patch
    sets; raises Refused with Gerrit's reason, changing nothing, if any
    commit is unacceptable."""
    repo = site.repo(project)
    with site.changing() as state:
        if project not in state.projects:
            raise Refused(f"project {project} not found")
        if repos.resolve(repo, "refs/heads/" + branch) is None:
            raise Refused(f"branch {branch} not found")
        commits = [repos.read_commit(repo, sha) for sha in
                   repos.new_commits(repo, tip, list(repos.heads(repo)))]
        plan = [(commit, _target(site, project, branch, commit)) for commit in commits
                if not _known_revision(site, project, commit.revision)]
        if not plan:
            raise Refused("no new changes")
        return [_apply(site, project, branch, commit, target, uploader, topic, wip)
                for commit, target in plan]


def _known_revision(site: Site, project: str, revision: str) -> bool:
    return any(c.project == project and any(ps.revision == revision for ps in c.patchsets)
               for c in site.state.changes.values())


def _target(site: Site, project: str, branch: str, commit: repos.Commit) -> Change | None:
    ids = commit.change_ids
    if not ids:
        raise Refused(f"commit {commit.revision[:7]}: missing Change-Id in message footer")
    if len(ids) > 1:
        raise Refused(f"commit {commit.revision[:7]}: multiple Change-Id lines in message footer")
    for change in site.state.changes.values():
        if (change.project, change.branch, change.change_id) == (project, branch, ids[0]):
            if not change.is_open:
                raise Refused(f"change {change.number} closed")
            return change
    return None


def _apply(site: Site, project: str, branch: str, commit: repos.Commit, change: Change | None,
           uploader: str, topic: str | None, wip: bool | None) -> Uploaded:
    state = site.state
    new_change = change is None
    if change is None:
        change = Change(number=state.next_number, project=project, branch=branch,
                        change_id=commit.change_ids[0], subject=commit.subject,
                        commit_message=commit.message, owner=uploader, created_on=now(),
                        updated_on=now(), updated_seq=0)
        state.next_number += 1
        state.changes[change.number] = change
    number = len(change.patchsets) + 1
    ps = PatchSet(number=number, revision=commit.revision, parents=commit.parents,
                  ref=patchset_ref(change.number, number), uploader=uploader,
                  author_name=commit.author_name, author_email=commit.author_email,
                  created_on=now())
    if change.patchsets:
        ps.kind = _kind(site.repo(project), change.current, commit)
        if ps.kind == "NO_CHANGE":
            ps.votes = list(change.current.votes)
    repos.update_ref(site.repo(project), ps.ref, commit.revision)
    change.patchsets.append(ps)
    change.subject, change.commit_message = commit.subject, commit.message
    change.topic = topic or change.topic
    change.wip = change.wip if wip is None else wip
    change.messages.append(Message(now(), uploader, f"Uploaded patch set {number}.", number))
    site.touch(change)
    site.bus.publish(events.ref_updated(site, project, ps.ref, repos.ZERO, ps.revision, uploader))
    site.bus.publish(events.patchset_created(site, change, ps))
    return Uploaded(change.number, number, change.subject, new_change)


def _kind(repo: str, previous: PatchSet, commit: repos.Commit) -> str:
    tree = lambda rev: repos.git(repo, "rev-parse", rev + "^{tree}")  # noqa: E731
    if tree(previous.revision) != tree(commit.revision):
        return "REWORK"
    same_parents = [tree(p) for p in previous.parents] == [tree(p) for p in commit.parents]
    if not same_parents:
        return "REWORK"
    old_message = repos.read_commit(repo, previous.revision).message
    return "NO_CHANGE" if old_message == commit.message else "NO_CODE_CHANGE"


def branch_moved(site: Site, project: str, ref: str, old: str, new: str, who: str,
                 how: str = "pushed") -> list[int]:
    """Announce a ref update and close, as merged, every open change of the
    branch whose current commit reached it, or (squash merges) whose
    Change-Id is in a commit that newly reached it. Returns their numbers."""
    with site.changing():
        site.bus.publish(events.ref_updated(site, project, ref, old, new, who))
        if not ref.startswith("refs/heads/") or new == repos.ZERO:
            return []
        branch = ref[len("refs/heads/"):]
        repo = site.repo(project)
        arrived = [repos.read_commit(repo, sha) for sha in
                   repos.new_commits(repo, new, [old] if old != repos.ZERO else [])]
        closed = []
        for change in sorted(site.state.changes.values(), key=lambda c: c.number):
            if change.project != project or change.branch != branch or not change.is_open:
                continue
            if _reached(site, change, repo, new, arrived, who):
                _close_merged(site, change, who, new, how)
                closed.append(change.number)
        return closed


def _reached(site: Site, change: Change, repo: str, new: str, arrived: list[repos.Commit],
             who: str) -> bool:
    if repos.is_ancestor(repo, change.current.revision, new):
        return True
    squashed = next((c for c in arrived if change.change_id in c.change_ids), None)
    if squashed is None:
        return False
    number = len(change.patchsets) + 1
    ps = PatchSet(number=number, revision=squashed.revision, parents=squashed.parents,
                  ref=patchset_ref(change.number, number), uploader=who,
                  author_name=squashed.author_name, author_email=squashed.author_email,
                  created_on=now())
    repos.update_ref(repo, ps.ref, squashed.revision)
    change.patchsets.append(ps)
    return True


def _close_merged(site: Site, change: Change, who: str, new: str, how: str) -> None:
    change.status = Status.MERGED
    change.messages.append(Message(now(), who, f"Change has been successfully {how}.",
                                   change.current.number))
    site.touch(change)
    site.bus.publish(events.change_merged(site, change, who, new))
