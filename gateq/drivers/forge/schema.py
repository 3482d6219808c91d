"""`connections: {NAME: {driver: gitea|github|gitlab, ...}}`: the attributes
every forge driver takes, as a voluptuous dict with every default, and
what a pipeline may say about a forge connection (`layout_parts`): the
same trigger, require and reporter attributes for the three forges.

Triggers name events in one vocabulary (EVENTS); a label a trigger or a
requirement names is the vote `label:NAME` (= 1 while it is on), an
approving review the vote `review:approved` (gateq/drivers/forge/pulls.py).
Imports nothing heavy: `gateq validate` reads it.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from voluptuous import All, Invalid, Optional, Required

from ...config.errors import quote
from ...config.values import choice, count, each, flag, in_dir, maybe, one_or_list, regex, text
from ..gerrit.schema import readable_file, url
from .pulls import APPROVED, label_vote

# Event names a trigger may list, and the ReviewEventKind each is (connection.py).
EVENTS = ("opened", "comment", "approved", "closed", "merged", "reopened", "draft-changed")
STATUS_VOTES = {"failure": -1, "pending": 0, "success": 1}
GIT_SCHEMES = ("https", "http", "file", "ssh")


def label_name(value):
    """A forge label: any text without line breaks."""
    text(value)
    if "\n" in value or "\r" in value or len(value) > 255:
        raise Invalid(f"not a label name: {value[:40]!r}")
    return value


def git_url(value):
    """Where git reaches the forge's repositories (file:// for a local copy)."""
    text(value)
    parts = urlsplit(value)
    where = parts.netloc or (parts.scheme == "file" and parts.path)
    if parts.scheme not in GIT_SCHEMES or not where:
        raise Invalid(f"{quote(value)} is not a {', '.join(GIT_SCHEMES[:-1])} or "
                      f"{GIT_SCHEMES[-1]} URL")
    return value.rstrip("/")


def fields(config_dir: str, driver: str) -> dict:
    return {
        Required("driver"): driver,
        Required("url"): url(("https", "http")),          # the forge's web address
        Optional("api-url", default=None): maybe(url(("https", "http"))),
        Optional("git-url", default=None): maybe(git_url),
        Optional("web-url", default=None): maybe(url(("https", "http"))),
        Required("token"): readable_file(config_dir),      # a file holding the API token
        Required("webhook-secret"): readable_file(config_dir),
        Optional("reconcile-interval", default=300): count,
        Optional("timeout", default=30): count,             # seconds for one API call
        Optional("status-url", default=None): maybe(url(("https", "http"))),
        Optional("mirror", default=None): maybe(in_dir(config_dir)),
    }


def schema_for(driver: str, api_url: Callable[[str], str]):
    """The schema(config_dir) of one forge driver; `api_url` derives its API root."""
    def defaults(connection: dict) -> dict:
        connection["web-url"] = connection["web-url"] or connection["url"]
        connection["git-url"] = connection["git-url"] or connection["url"]
        connection["api-url"] = connection["api-url"] or api_url(connection["url"])
        return connection

    def schema(config_dir: str) -> object:
        return All(fields(config_dir, driver), defaults)
    return schema


def wanted_votes(entry: dict, labels: list[str]) -> tuple[tuple[str, int], ...]:
    votes = tuple((label_vote(name), 1) for name in labels)
    return votes + (((APPROVED, 1),) if entry.get("review") == "approved" else ())


def trigger(entry: dict) -> dict:
    labels = [entry["label"]] if entry["label"] else []
    return {"events": entry["event"], "branch": entry["branch"],
            "approvals": wanted_votes(entry, labels), "comment": entry["comment"]}


def require(entry: dict) -> dict:
    return {"approvals": wanted_votes(entry, entry["label"]), "open": entry["open"],
            "current-patchset": None, "wip": entry["draft"]}


def reporter(entry: dict) -> dict:
    """{status: success, comment: true, merge: true}; a comment by default
    except with a pending status (the start of an item)."""
    votes = ((("status", STATUS_VOTES[entry["status"]]),) if entry["status"] else ())
    comment = entry["comment"] if entry["comment"] is not None else entry["status"] != "pending"
    return {"labels": votes + ((("comment", 1),) if comment else ()), "submit": False,
            "merge": entry["merge"]}


def layout_parts() -> dict:
    return {
        "trigger": each(All({
            Required("event"): one_or_list(choice(EVENTS)),
            Optional("branch", default=None): maybe(regex),
            Optional("label", default=None): maybe(label_name),
            Optional("review", default=None): maybe(choice(("approved",))),
            Optional("comment", default=None): maybe(regex),
        }, trigger)),
        "require": All({
            Optional("label", default=[]): one_or_list(label_name),
            Optional("review", default=None): maybe(choice(("approved",))),
            Optional("open", default=None): maybe(flag),
            Optional("draft", default=None): maybe(flag),
        }, require),
        "reporter": All({
            Optional("status", default=None): maybe(choice(tuple(STATUS_VOTES))),
            Optional("comment", default=None): maybe(flag),
            Optional("merge", default=False): flag,
        }, reporter),
    }
