"""Voluptuous schemas for the JSON objects Gerrit prints (account, change,
patchSet, approval, refUpdate, dependency; Documentation/json.txt), shared
by stream events and query results, and the frozen records they build.

Gerrit says any field may be missing, so every key is optional with its
default in the schema; numbers arrive as integers or (older servers, and
always for approval values) as strings, and both become ints. Unknown
keys are dropped.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from voluptuous import REMOVE_EXTRA, Invalid, Optional, Schema

_INTEGER = re.compile(r"[+-]?\d+\Z")


def integer(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value)
    raise Invalid(f"expected an integer, got {value!r}")


def text(value) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {value!r}")
    return value


def flag(value) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {value!r}")
    return value


def maybe(validator):
    return lambda value: None if value is None else validator(value)


def schema(fields: dict) -> Schema:
    return Schema(fields, extra=REMOVE_EXTRA)


class ChangeStatus(enum.Enum):
    NEW = "NEW"
    MERGED = "MERGED"
    ABANDONED = "ABANDONED"
    UNKNOWN = "UNKNOWN"       # missing, or a status this gateq does not know


def change_status(value) -> ChangeStatus:
    try:
        return ChangeStatus(text(value))
    except ValueError:
        return ChangeStatus.UNKNOWN


@dataclass(frozen=True)
class Account:
    username: str | None = None
    name: str | None = None
    email: str | None = None


ACCOUNT = schema({Optional("username", default=None): maybe(text),
                  Optional("name", default=None): maybe(text),
                  Optional("email", default=None): maybe(text)})


def account(value) -> Account:
    """Accounts recur in every event (owner, uploader, author...) and come
    from few people: each distinct one is validated once."""
    try:
        key = tuple(value.items()) if isinstance(value, dict) else None
        found = _accounts.get(key) if key is not None else None
    except TypeError:                     # a value that cannot be a key: just validate
        key = found = None
    if found is None:
        found = Account(**ACCOUNT(value))
        if key is not None:
            if len(_accounts) >= 1024:
                _accounts.clear()
            _accounts[key] = found
    return found


_accounts: dict[tuple, Account] = {}


@dataclass(frozen=True)
class Approval:
    """A vote: `old_value` is set (comment-added) when this event changed it."""
    label: str
    value: int
    old_value: int | None = None
    by: Account | None = None


APPROVAL = schema({Optional("type", default=None): maybe(text),
                   Optional("value", default="0"): integer,
                   Optional("oldValue", default=None): maybe(integer),
                   Optional("by", default=None): maybe(account)})


def approvals(value) -> tuple[Approval, ...]:
    """Votes, skipping any that name no label (they cannot mean anything)."""
    if not isinstance(value, list):
        raise Invalid(f"expected a list, got {value!r}")
    found = [APPROVAL(item) for item in value]
    return tuple(Approval(f["type"], f["value"], f["oldValue"], f["by"])
                 for f in found if f["type"] is not None)


@dataclass(frozen=True)
class PatchSetInfo:
    number: int | None
    revision: str | None
    ref: str | None
    parents: tuple[str, ...] = ()
    uploader: Account | None = None
    created_on: int | None = None
    kind: str | None = None
    approvals: tuple[Approval, ...] = ()


PATCHSET = schema({Optional("number", default=None): maybe(integer),
                   Optional("revision", default=None): maybe(text),
                   Optional("ref", default=None): maybe(text),
                   Optional("parents", default=[]): [text],
                   Optional("uploader", default=None): maybe(account),
                   Optional("createdOn", default=None): maybe(integer),
                   Optional("kind", default=None): maybe(text),
                   Optional("approvals", default=[]): approvals})


def patchset(value) -> PatchSetInfo:
    f = PATCHSET(value)
    return PatchSetInfo(f["number"], f["revision"], f["ref"], tuple(f["parents"]), f["uploader"],
                        f["createdOn"], f["kind"], tuple(f["approvals"]))


@dataclass(frozen=True)
class ChangeInfo:
    number: int | None
    project: str | None
    branch: str | None
    change_id: str | None = None
    subject: str | None = None
    url: str | None = None
    status: ChangeStatus = ChangeStatus.UNKNOWN
    wip: bool = False
    topic: str | None = None
    owner: Account | None = None
    commit_message: str | None = None


CHANGE = {Optional("number", default=None): maybe(integer),
          Optional("project", default=None): maybe(text),
          Optional("branch", default=None): maybe(text),
          Optional("id", default=None): maybe(text),
          Optional("subject", default=None): maybe(text),
          Optional("url", default=None): maybe(text),
          Optional("status", default="UNKNOWN"): change_status,
          Optional("wip", default=False): flag,
          Optional("topic", default=None): maybe(text),
          Optional("owner", default=None): maybe(account),
          Optional("commitMessage", default=None): maybe(text)}
CHANGE_SCHEMA = schema(CHANGE)


def change_info(found: dict) -> ChangeInfo:
    """The record of a change dict already validated by CHANGE."""
    return ChangeInfo(found["number"], found["project"], found["branch"], found["id"],
                      found["subject"], found["url"], found["status"], found["wip"],
                      found["topic"], found["owner"], found["commitMessage"])


def change(value) -> ChangeInfo:
    return change_info(CHANGE_SCHEMA(value))


@dataclass(frozen=True)
class Dependency:
    """A change this one is based on (dependsOn) or that is based on it (neededBy)."""
    number: int | None
    change_id: str | None
    revision: str | None
    ref: str | None
    is_current_patchset: bool = False


DEPENDENCY = schema({Optional("number", default=None): maybe(integer),
                     Optional("id", default=None): maybe(text),
                     Optional("revision", default=None): maybe(text),
                     Optional("ref", default=None): maybe(text),
                     Optional("isCurrentPatchSet", default=False): flag})


def dependency(value) -> Dependency:
    f = DEPENDENCY(value)
    return Dependency(f["number"], f["id"], f["revision"], f["ref"], f["isCurrentPatchSet"])


@dataclass(frozen=True)
class RefUpdate:
    project: str | None
    ref: str | None
    old_rev: str | None
    new_rev: str | None

    @property
    def branch(self) -> str | None:
        """The branch a ref names: refs/heads/X, or X alone as Gerrit 2 sent it."""
        if self.ref is None or self.ref.startswith("refs/heads/"):
            return self.ref and self.ref[len("refs/heads/"):]
        return None if self.ref.startswith("refs/") else self.ref


REF_UPDATE = schema({Optional("project", default=None): maybe(text),
                     Optional("refName", default=None): maybe(text),
                     Optional("oldRev", default=None): maybe(text),
                     Optional("newRev", default=None): maybe(text)})


def ref_update(value) -> RefUpdate:
    f = REF_UPDATE(value)
    return RefUpdate(f["project"], f["refName"], f["oldRev"], f["newRev"])
