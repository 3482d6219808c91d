"""Stream events in the shapes of Gerrit's cmd-stream-events documentation,
with the top-level `project`, `refName` and `changeKey` that Gerrit 3 adds."""
from __future__ import annotations

from . import shapes
from .model import Change, PatchSet, Vote
from .site import Site, now


def _change_event(site: Site, kind: str, change: Change, ps: PatchSet | None) -> dict:
    event = {"type": kind, "change": shapes.change(site.state, change)}
    if ps is not None:
        event["patchSet"] = shapes.patchset(site.state, ps)
    event.update({"project": change.project, "refName": "refs/heads/" + change.branch,
                  "changeKey": {"id": change.change_id}, "eventCreatedOn": now()})
    return event


def patchset_created(site: Site, change: Change, ps: PatchSet) -> dict:
    event = _change_event(site, "patchset-created", change, ps)
    event["uploader"] = shapes.account(site.state, ps.uploader)
    return event


def comment_added(site: Site, change: Change, ps: PatchSet, author: str, comment: str,
                  before: dict[str, int]) -> dict:
    """`before` holds the author's votes before this review: labels whose
    value changed carry `oldValue`, as Gerrit has done since 2.13."""
    event = _change_event(site, "comment-added", change, ps)
    event["author"] = shapes.account(site.state, author)
    event["approvals"] = [_event_approval(label, ps.votes, author, before)
                          for label in site.state.labels]
    event["comment"] = comment
    return event


def _event_approval(label: str, votes: list[Vote], author: str, before: dict[str, int]) -> dict:
    value = next((v.value for v in votes if v.label == label and v.by == author), 0)
    shape = {"type": label, "description": label, "value": str(value)}
    if before.get(label, 0) != value:
        shape["oldValue"] = str(before.get(label, 0))
    return shape


def change_merged(site: Site, change: Change, submitter: str, new_rev: str) -> dict:
    event = _change_event(site, "change-merged", change, change.current)
    event.update({"submitter": shapes.account(site.state, submitter), "newRev": new_rev})
    return event


def change_abandoned(site: Site, change: Change, who: str, reason: str) -> dict:
    event = _change_event(site, "change-abandoned", change, change.current)
    event.update({"abandoner": shapes.account(site.state, who), "reason": reason})
    return event


def change_restored(site: Site, change: Change, who: str, reason: str) -> dict:
    event = _change_event(site, "change-restored", change, change.current)
    event.update({"restorer": shapes.account(site.state, who), "reason": reason})
    return event


def wip_state_changed(site: Site, change: Change, who: str) -> dict:
    event = _change_event(site, "wip-state-changed", change, change.current)
    event["changer"] = shapes.account(site.state, who)
    return event


def ref_updated(site: Site, project: str, ref: str, old: str, new: str, who: str) -> dict:
    return {"type": "ref-updated", "submitter": shapes.account(site.state, who),
            "refUpdate": {"oldRev": old, "newRev": new, "refName": ref, "project": project},
            "eventCreatedOn": now()}
