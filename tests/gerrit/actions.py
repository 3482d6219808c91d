"""What reviewers do to a change: vote and comment, abandon, restore, mark
work in progress, submit. Each emits the stream event Gerrit would."""
from __future__ import annotations

from . import changes, events, repos, shapes
from .model import Change, Message, PatchSet, Status, SubmitType, Vote
from .site import Refused, Site, now


def patchset(site: Site, number: int, ps_number: int) -> tuple[Change, PatchSet]:
    change = site.state.changes.get(number)
    ps = change.patchset(ps_number) if change else None
    if ps is None:
        raise Refused(f'"{number},{ps_number}" no such patch set')
    return change, ps


def review(site: Site, who: str, number: int, ps_number: int, labels: dict[str, int],
           message: str | None, tag: str | None = None, strict: bool = False) -> bool:
    """Apply votes and a message; like Gerrit, votes for unknown labels, out
    of range, or on an outdated or closed patch set are dropped unless
    `strict`. Returns whether anything was posted (a comment-added)."""
    with site.changing():
        change, ps = patchset(site, number, ps_number)
        votes = _valid_votes(site, change, ps, labels, strict)
        if not votes and not message:
            return False
        before = {v.label: v.value for v in ps.votes if v.by == who}
        for label, value in votes.items():
            ps.votes = [v for v in ps.votes if not (v.label == label and v.by == who)]
            if value != 0:
                ps.votes.append(Vote(label, value, who, now()))
        text = _message_text(ps.number, votes, before, message)
        change.messages.append(Message(now(), who, text, ps.number, tag))
        site.touch(change)
        site.bus.publish(events.comment_added(site, change, ps, who, text, before))
        return True


def _valid_votes(site: Site, change: Change, ps: PatchSet, labels: dict[str, int],
                 strict: bool) -> dict[str, int]:
    valid = {}
    for label, value in labels.items():
        spec = site.state.labels.get(label)
        if spec is None:
            problem = f"label \"{label}\" is not a configured label"
        elif not spec["min"] <= value <= spec["max"]:
            problem = f"label \"{label}\": {value} is not a permitted value"
        elif ps is not change.current or not change.is_open:
            problem = "cannot vote on an outdated or closed patch set"
        else:
            valid[label] = value
            continue
        if strict:
            raise Refused(problem)
    return valid


def _message_text(ps: int, votes: dict[str, int], before: dict[str, int],
                  message: str | None) -> str:
    shown = [f"{label}{value:+d}" if value else f"-{label}"
             for label, value in votes.items() if before.get(label, 0) != value]
    head = f"Patch Set {ps}:" + (" " + " ".join(shown) if shown else "")
    return head + (f"\n\n{message}" if message else "")


def abandon(site: Site, who: str, number: int, reason: str = "") -> None:
    with site.changing():
        change = site.change(number)
        if not change.is_open:
            raise Refused(f"change is {change.status.value.lower()}")
        change.status = Status.ABANDONED
        change.messages.append(Message(now(), who, "Abandoned" + _reason(reason),
                                       change.current.number))
        site.touch(change)
        site.bus.publish(events.change_abandoned(site, change, who, reason))


def restore(site: Site, who: str, number: int, reason: str = "") -> None:
    with site.changing():
        change = site.change(number)
        if change.status is not Status.ABANDONED:
            raise Refused(f"change is {change.status.value.lower()}")
        change.status = Status.NEW
        change.messages.append(Message(now(), who, "Restored" + _reason(reason),
                                       change.current.number))
        site.touch(change)
        site.bus.publish(events.change_restored(site, change, who, reason))


def _reason(reason: str) -> str:
    return f"\n\n{reason}" if reason else ""


def set_wip(site: Site, who: str, number: int, wip: bool) -> None:
    with site.changing():
        change = site.change(number)
        if change.wip == wip:
            return
        change.wip = wip
        site.touch(change)
        site.bus.publish(events.wip_state_changed(site, change, who))


def submit(site: Site, who: str, number: int, ps_number: int) -> str:
    """Merge the change (with the open changes it is based on) into its
    branch by the project's submit type; returns the new branch tip."""
    with site.project_lock(site.change(number).project), site.changing() as state:
        change, ps = patchset(site, number, ps_number)
        if not change.is_open:
            raise Refused(f"change {number} is {change.status.value.lower()}")
        if ps is not change.current:
            raise Refused(f"patch set {ps_number} is not current")
        for member in [change, *_open_ancestors(site, change)]:
            _check_submittable(site, member)
        repo = site.repo(change.project)
        ref = "refs/heads/" + change.branch
        tip = repos.resolve(repo, ref)
        new = _merged_tip(repo, state.projects[change.project].submit_type, tip, change)
        repos.update_ref(repo, ref, new, tip)
        changes.branch_moved(site, change.project, ref, tip, new, who, how="merged")
        return new


def _open_ancestors(site: Site, change: Change) -> list[Change]:
    found, todo = [], [change]
    while todo:
        for dep in shapes.depends_on(site.state, todo.pop()):
            parent = site.state.changes[dep["number"]]
            if parent.is_open and parent not in found:
                if not dep["isCurrentPatchSet"]:
                    raise Refused(f"change {change.number} depends on an outdated patch set "
                                  f"of change {parent.number}")
                found.append(parent)
                todo.append(parent)
    return found


def _check_submittable(site: Site, change: Change) -> None:
    if change.wip:
        raise Refused(f"Change {change.number} is work in progress")
    record = shapes.submit_records(site.state, change)[0]
    missing = [label["label"] for label in record["labels"] if label["status"] in ("NEED", "REJECT")]
    if missing:
        raise Refused(f"Change {change.number}: needs {', '.join(missing)}")


def _merged_tip(repo: str, submit_type: SubmitType, tip: str, change: Change) -> str:
    commit = change.current.revision
    if repos.is_ancestor(repo, commit, tip):
        return tip
    if submit_type is not SubmitType.MERGE_ALWAYS and repos.is_ancestor(repo, tip, commit):
        return commit
    if submit_type is SubmitType.FAST_FORWARD_ONLY:
        raise Refused("Project policy requires all submissions to be a fast-forward. "
                      "Please rebase the change locally and upload again for review.")
    try:
        return repos.merge(repo, tip, commit, f'Merge "{change.subject}"')
    except repos.GitFailed:
        raise Refused(f"Change {change.number}: Change could not be merged due to a path "
                      "conflict. Please rebase the change locally and upload the rebased "
                      "commit for review.") from None
