"""What a push does, command by command, as Gerrit's receive does it.

git's receive-pack hands every pushed command to our proc-receive hook
(receive.procReceiveRefs = refs/), which asks this module over the control
channel. So the stand-in, not git, decides each ref: refs/for/<branch>
(with %topic=, %wip, %ready or the same push options) makes changes and
patch sets and never exists as a ref; refs/heads/* and refs/tags/* move
for accounts allowed to push, fast-forward only, with a compare-and-swap
on the old value; anything else is prohibited. The objects are already in
the repository when the hook runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import changes, repos, shapes
from .site import Refused, Site

ZERO = repos.ZERO


@dataclass
class Report:
    """The hook's answer: one (ref, None | reason) per command, in order,
    and lines shown to the pusher as `remote:` output."""
    results: list[tuple[str, str | None]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def receive(site: Site, project: str, user: str, commands: list[list[str]],
            options: list[str]) -> Report:
    report = Report()
    for old, new, ref in commands:
        try:
            if ref.startswith("refs/for/"):
                report.messages += _for_review(site, project, user, new, ref, options)
            else:
                _direct(site, project, user, old, new, ref)
            report.results.append((ref, None))
        except (Refused, repos.GitFailed) as exc:
            report.results.append((ref, str(exc)))
    return report


def _for_review(site: Site, project: str, user: str, new: str, ref: str,
                options: list[str]) -> list[str]:
    branch, _, suffix = ref[len("refs/for/"):].partition("%")
    words = [w for w in suffix.split(",") if w] + options
    topic = next((w.split("=", 1)[1] for w in words if w.startswith("topic=")), None)
    wip = True if "wip" in words else False if "ready" in words else None
    uploaded = changes.upload(site, project, branch, new, user, topic=topic, wip=wip)
    state = site.state
    lines = ["", "SUCCESS", ""]
    for kind, new_change in (("New Changes:", True), ("Updated Changes:", False)):
        shown = [u for u in uploaded if u.new_change is new_change]
        if shown:
            lines.append(kind)
            for u in shown:
                change = state.changes[u.number]
                mark = " [WIP]" if change.wip else ""
                lines.append(f"  {shapes.url(state, change)} {u.subject}{mark}")
    return lines + [""]


def _direct(site: Site, project: str, user: str, old: str, new: str, ref: str) -> None:
    account = site.state.accounts.get(user)
    action = "delete" if new == ZERO else "create" if old == ZERO else "update"
    if not ref.startswith(("refs/heads/", "refs/tags/")) or account is None or not account.can_push:
        raise Refused(f"prohibited by Gerrit: not permitted: {action}")
    if action == "delete":
        raise Refused("prohibited by Gerrit: not permitted: delete")
    repo = site.repo(project)
    with site.project_lock(project):
        current = repos.resolve(repo, ref) or ZERO
        if current != old:
            raise Refused("failed to lock")
        if action == "update" and not repos.is_ancestor(repo, old, new):
            raise Refused("prohibited by Gerrit: not permitted: force update")
        repos.update_ref(repo, ref, new, old)
        changes.branch_moved(site, project, ref, old, new, user)
