"""What a scheduler taking over on another host must fetch or make again.

The journal names commits: the changes (fetched into the mirror of the
scheduler that heard them) and the items' speculative states (made by the
merger of the scheduler that ran them). With a mirror per host, a standby
has neither. The changes are fetched again through their connection; the
items whose speculative commits are missing are named in one MergesLost
event, so the core merges them again (a few milliseconds each: the
merger writes git objects only) instead of their builds failing.
"""
from __future__ import annotations

import logging

from .core.state import Stage
from .drivers.base import DriverError
from .git.repo import GitError, run

log = logging.getLogger("gateq.engine")


def missing(path: str, commits: set[str]) -> set[str]:
    """Those of `commits` the repository at `path` lacks (all, if it is not one)."""
    if not commits:
        return set()
    try:
        proc = run(path, "cat-file", "--batch-check", stdin="".join(f"{c}\n" for c in commits))
    except GitError:
        return set(commits)
    if proc.returncode != 0:
        return set(commits)
    return {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" missing")}


def fetch_missing_changes(scheduler, connections) -> None:
    """Fetch the changes of every queued item this host's repositories lack."""
    wanted: dict[str, dict[str, object]] = {}
    for item in scheduler.state.items():
        for member in item.members:
            wanted.setdefault(member.change.project, {})[member.change.revision] = member.change
    for project, changes in wanted.items():
        if project not in scheduler.layout.projects:
            continue                         # removed from the layout: its items are pruned
        for revision in missing(connections.repo_path(project), set(changes)):
            change = changes[revision]
            try:
                connections.of(project).fetch_change(change)
            except (DriverError, GitError, OSError) as exc:
                log.warning("change %s of %s is not in this host's repository and could not be "
                            "fetched: %s", change.name, project, exc)


def lost_merges(scheduler, repo_path) -> tuple[int, ...]:
    """Items (not landing) whose speculative state names a commit missing
    here. Only the branches some queued change targets are looked at: the
    others stand at their tips in every state (a distgit queue's states
    name hundreds of them), which the mirror fetches as it starts."""
    changed = {(m.change.project, m.change.branch)
               for item in scheduler.state.items() for m in item.members}
    holding: dict[str, set[str]] = {}
    items = [i for i in scheduler.state.items() if i.spec and i.stage is not Stage.LANDING]
    for item in items:
        for project, branch, commit in item.spec:
            if (project, branch) in changed and project in scheduler.layout.projects:
                holding.setdefault(project, set()).add(commit)   # (a project may be gone)
    gone = {(p, c) for p, commits in holding.items() for c in missing(repo_path(p), commits)}
    return tuple(i.id for i in items if any((p, c) in gone for p, _, c in i.spec))
