"""The stand-in's state rendered in Gerrit's documented JSON shapes (the
account, change, patchSet, approval, dependency and submitRecord
attributes of Documentation/json.txt), with Gerrit's field names, nesting
and types: numbers as integers, approval values as strings."""
from __future__ import annotations

from .model import Change, PatchSet, State, Vote


def account(state: State, username: str) -> dict:
    found = state.accounts.get(username)
    if found is None:
        return {"username": username}
    return {"name": found.name, "email": found.email, "username": found.username}


def url(state: State, change: Change) -> str:
    return f"{state.web_url.rstrip('/')}/c/{change.project}/+/{change.number}"


def approval(state: State, vote: Vote) -> dict:
    return {"type": vote.label, "description": vote.label, "value": str(vote.value),
            "grantedOn": vote.granted_on, "by": account(state, vote.by)}


def patchset(state: State, ps: PatchSet, *, approvals: bool = False) -> dict:
    shape = {"number": ps.number, "revision": ps.revision, "parents": list(ps.parents),
             "ref": ps.ref, "uploader": account(state, ps.uploader), "createdOn": ps.created_on,
             "author": _author(state, ps), "kind": ps.kind}
    if approvals and ps.votes:
        shape["approvals"] = [approval(state, v) for v in ps.votes if v.value != 0]
    return shape


def _author(state: State, ps: PatchSet) -> dict:
    shape = {"name": ps.author_name, "email": ps.author_email}
    for found in state.accounts.values():
        if found.email == ps.author_email:
            shape["username"] = found.username
    return shape


def change(state: State, c: Change, *, commit_message: bool = True) -> dict:
    """The change attribute as events carry it."""
    shape = {"project": c.project, "branch": c.branch}
    if c.topic:
        shape["topic"] = c.topic
    shape.update({"id": c.change_id, "number": c.number, "subject": c.subject,
                  "owner": account(state, c.owner), "url": url(state, c)})
    if commit_message:
        shape["commitMessage"] = c.commit_message
    shape.update({"createdOn": c.created_on, "status": c.status.value})
    if c.wip:
        shape["wip"] = True
    return shape


def query_change(state: State, c: Change, *, commit_message: bool) -> dict:
    """The change attribute as `gerrit query` prints it (before options add more)."""
    shape = change(state, c, commit_message=commit_message)
    status = shape.pop("status")
    created = shape.pop("createdOn")
    wip = shape.pop("wip", None)
    shape.update({"hashtags": [], "createdOn": created, "lastUpdated": c.updated_on,
                  "open": c.is_open, "status": status})
    if wip:
        shape["wip"] = True
    return shape


def dependency(c: Change, ps: PatchSet) -> dict:
    return {"id": c.change_id, "number": c.number, "revision": ps.revision, "ref": ps.ref,
            "isCurrentPatchSet": ps is c.current}


def depends_on(state: State, c: Change) -> list[dict]:
    """Changes of the same project whose patch set is a parent of the current one."""
    found = []
    for parent in c.current.parents:
        for other in state.changes.values():
            ps = next((p for p in other.patchsets if p.revision == parent), None)
            if other.project == c.project and ps is not None:
                found.append(dependency(other, ps))
    return found


def needed_by(state: State, c: Change) -> list[dict]:
    """Open changes of the same project with a patch set based on the current one."""
    found = []
    for other in sorted(state.changes.values(), key=lambda o: o.number):
        if other.project != c.project or not other.is_open or other is c:
            continue
        for ps in other.patchsets:
            if c.current.revision in ps.parents:
                found.append(dependency(other, ps))
    return found


def submit_records(state: State, c: Change) -> list[dict]:
    labels = [label_status(state, name, spec, c.current.votes)
              for name, spec in state.labels.items()]
    ready = all(label["status"] in ("OK", "MAY") for label in labels)
    return [{"status": "OK" if ready else "NOT_READY", "labels": labels}]


def label_status(state: State, name: str, spec: dict, votes: list[Vote]) -> dict:
    """Gerrit's MaxWithBlock: the minimum blocks, the maximum is needed;
    NoBlock labels never stand in the way."""
    mine = [v for v in votes if v.label == name]
    blocking = next((v for v in mine if v.value == spec["min"] and v.value < 0), None)
    best = next((v for v in mine if v.value == spec["max"]), None)
    if spec["function"] == "NoBlock":
        return {"label": name, "status": "MAY"}
    if blocking is not None:
        return {"label": name, "status": "REJECT", "by": account(state, blocking.by)}
    if best is not None:
        return {"label": name, "status": "OK", "by": account(state, best.by)}
    return {"label": name, "status": "NEED"}
