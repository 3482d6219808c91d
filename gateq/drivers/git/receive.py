"""What the post-receive hook does with a push: every ref under
refs/for/BRANCH becomes a proposed change for BRANCH (stored at
refs/changes/NN/N/P, see proposals.py), and refs/for/* is removed again,
as on Gerrit, where it never exists, so the next push there is no
"non-fast-forward". Push options (`git push -o ...`):

  gateq.approve      also approve the change (an APPROVED event)
  gateq.change=N     the commit is the next patch set of change N

Anything else is left as it is. The refs are already updated when
post-receive runs, so nothing here can reject a push; problems are told
to the pusher, one `gateq:` line each.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ...git import repo as git_repo
from ...git.repo import GitError
from ..records import ChangeRef, ChangeState, Origin, ReviewEvent, ReviewEventKind
from .proposals import Proposal, store

FOR = "refs/for/"
ZERO = "0" * 40
APPROVE = "gateq.approve"
CHANGE = "gateq.change="


@dataclass
class Received:
    """The events a push proposes, and the lines to show the pusher."""
    events: list[ReviewEvent] = field(default_factory=list)
    said: list[str] = field(default_factory=list)


def push_options(environ: Mapping[str, str]) -> list[str]:
    """The push options git hands a hook (GIT_PUSH_OPTION_COUNT, _0, _1...)."""
    try:
        count = int(environ.get("GIT_PUSH_OPTION_COUNT", "0"))
    except ValueError:
        return []
    return [environ.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(count)]


def receive(repo: str, connection: str, project: str, lines: Iterable[str],
            options: list[str], actor: str | None = None) -> Received:
    """The events of a push, given post-receive's stdin lines `OLD NEW REF`."""
    received = Received()
    number, problem = _change_option(options)
    if problem:
        received.said.append(f"gateq: {problem}")
    for line in lines:
        words = line.split()
        if len(words) != 3 or not words[2].startswith(FOR):
            continue
        _, new, ref = words
        branch = ref[len(FOR):].split("%", 1)[0]
        if new != ZERO:
            _propose(received, repo, connection, project, branch, new, number,
                     APPROVE in options, actor)
        _forget(received, repo, ref, new)
    return received


def _change_option(options: list[str]) -> tuple[int | None, str | None]:
    wanted = [o[len(CHANGE):] for o in options if o.startswith(CHANGE)]
    if not wanted:
        return None, None
    if len(wanted) > 1 or not wanted[0].isdigit() or int(wanted[0]) < 1:
        return None, (f"push option {CHANGE}{wanted[-1]} is not one change number: the push "
                      "proposes new changes")
    return int(wanted[0]), None


def _propose(received: Received, repo: str, connection: str, project: str, branch: str,
             revision: str, number: int | None, approve: bool, actor: str | None) -> None:
    tip = git_repo.resolve(repo, "refs/heads/" + branch)
    if tip is None:
        received.said.append(f"gateq: no branch {branch} in {project}: nothing proposed")
        return
    if git_repo.is_ancestor(repo, revision, tip):
        received.said.append(f"gateq: {revision[:12]} is already on {branch}: nothing proposed")
        return
    try:
        proposal = store(repo, revision, number)
    except GitError as exc:
        received.said.append(f"gateq: nothing proposed: {exc}")
        return
    received.events += events_for(connection, project, branch, proposal, approve, actor)
    what = "patch set" if proposal.patchset > 1 else "change"
    received.said.append(f"gateq: {what} {proposal.number},{proposal.patchset} proposed for "
                         f"{branch} at {proposal.ref}" + (", approved" if approve else ""))


def events_for(connection: str, project: str, branch: str, proposal: Proposal, approve: bool,
               actor: str | None) -> list[ReviewEvent]:
    change = ChangeRef(proposal.ref, proposal.revision, proposal.number, proposal.patchset)
    kinds = [ReviewEventKind.PROPOSED] + ([ReviewEventKind.APPROVED] if approve else [])
    now = time.time()
    return [ReviewEvent(connection, kind, project, branch, change, state=ChangeState.OPEN,
                        actor=actor, created_at=now, origin=Origin.HOOK) for kind in kinds]


def _forget(received: Received, repo: str, ref: str, new: str) -> None:
    """Remove refs/for/...: only if it still holds what this push put there."""
    if new == ZERO:
        return
    proc = git_repo.run(repo, "update-ref", "-d", ref, new)
    if proc.returncode != 0 and git_repo.resolve(repo, ref) == new:
        received.said.append(f"gateq: could not remove {ref} ({git_repo.first_line(proc.stderr)});"
                             " the next push there may be refused as a non-fast-forward")
