"""`connections: {NAME: {driver: gerrit, ...}}`: the gerrit driver's
attributes, as a voluptuous dict with every default. `git-url` and
`web-url` default from the others, in `defaults` (run once the rest is
valid), so the connection only builds objects. Also what a pipeline may
say about a gerrit connection, with Zuul's names: its triggers, `require:`
and reporters (`layout_parts`). Imports nothing heavy: `gateq validate`
reads it without loading paramiko.
"""
from __future__ import annotations

import enum
import os
import re
from urllib.parse import urlsplit

from voluptuous import All, Extra, Invalid, MultipleInvalid, Optional, Required

from ...config.errors import quote
from ...config.values import (approvals, choice, count, each, enum_choice, flag, in_dir, label,
                              maybe, one_or_list, regex, text, vote)


class LandMode(enum.Enum):
    PUSH = "push"            # gateq pushes the tested commit (compare-and-swap)
    SUBMIT = "submit"        # gateq asks Gerrit to submit, then checks what landed


HOST = re.compile(r"[A-Za-z0-9.:_-]+\Z")
USER = re.compile(r"[A-Za-z0-9._@-]+\Z")


def host(value):
    text(value)
    if not HOST.match(value):
        raise Invalid(f"{quote(value)} is not a host name or address")
    return value


def port(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise Invalid(f"expected a port number (1 to 65535), got {value!r}")
    return value


def user(value):
    text(value)
    if not USER.match(value):
        raise Invalid(f"{quote(value)} is not a Gerrit user name")
    return value


def seconds(value):
    """A positive, finite number of seconds (fractions allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise Invalid(f"expected a number of seconds > 0, got {value!r}")
    return value


def readable_file(config_dir: str):
    """A file that exists and can be read (the SSH key, known-hosts)."""
    def check(value):
        path = in_dir(config_dir)(value)
        if not os.path.isfile(path):
            raise Invalid(f"file {quote(value)} does not exist" if not os.path.exists(path)
                          else f"{quote(value)} is not a file")
        if not os.access(path, os.R_OK):
            raise Invalid(f"file {quote(value)} cannot be read by this user")
        return path
    return check


def url(schemes: tuple[str, ...]):
    def check(value):
        text(value)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise Invalid(f"{quote(value)} is not a {' or '.join(schemes)} URL")
        return value.rstrip("/")
    return check


def defaults(connection: dict) -> dict:
    """git-url from server, port and user; web-url https://SERVER (as Zuul)."""
    if connection["git-url"] is None:
        connection["git-url"] = (f"ssh://{connection['user']}@{connection['server']}:"
                                 f"{connection['port']}")
    if connection["web-url"] is None:
        connection["web-url"] = f"https://{connection['server']}"
    return connection


def fields(config_dir: str) -> dict:
    """The attributes, each with its default (the plain dict)."""
    return {
        Required("driver"): "gerrit",
        Required("server"): host,
        Optional("port", default=29418): port,
        Required("user"): user,
        Required("sshkey"): readable_file(config_dir),
        Required("known-hosts"): readable_file(config_dir),
        Optional("git-url", default=None): maybe(url(("ssh",))),
        Optional("web-url", default=None): maybe(url(("https", "http"))),
        Optional("land", default="push"): enum_choice(LandMode),
        Optional("reconcile-interval", default=300): count,
        # every SSH step has a deadline (a report that hangs holds up nothing
        # else, and is retried from the outbox after report-retry, doubling)
        Optional("connect-timeout", default=10): seconds,
        Optional("command-timeout", default=30): seconds,
        Optional("keepalive", default=15): seconds,
        Optional("report-timeout", default=30): seconds,
        Optional("report-retry", default=2): seconds,
        Optional("reconnect-max", default=60): seconds,   # the longest wait between reconnections
        # gateq's own copy of each project; default: STATE/mirrors/NAME
        Optional("mirror", default=None): maybe(in_dir(config_dir)),
    }


def schema(config_dir: str) -> object:
    return All(fields(config_dir), defaults)


# -- what pipelines say about a gerrit connection --------------------------

# Gerrit's event names a trigger may list. ref-updated moves a branch, not a
# change: there is nothing for a queue to test, so it triggers nothing.
TRIGGER_EVENTS = ("patchset-created", "comment-added", "change-merged", "change-abandoned",
                  "change-restored", "wip-state-changed")


def trigger(entry: dict) -> dict:
    return {"events": entry["event"], "branch": entry["branch"], "approvals": entry["approval"],
            "comment": entry["comment"]}


def require(entry: dict) -> dict:
    return {"approvals": entry["approval"], "open": entry["open"],
            "current-patchset": entry["current-patchset"], "wip": entry["wip"]}


def reporter(entry: dict) -> dict:
    """{Verified: 2, submit: true}: every other key is a label and its vote."""
    labels, errors = [], []
    for key, value in entry.items():
        if key == "submit":
            continue
        try:
            labels.append((label(key), vote(value)))
        except Invalid as exc:
            errors.append(Invalid(exc.msg, path=[key]))
    if errors:
        raise MultipleInvalid(errors)
    return {"labels": tuple(labels), "submit": entry.get("submit", False), "merge": False}


def layout_parts() -> dict:
    return {
        "trigger": each(All({
            Required("event"): one_or_list(choice(TRIGGER_EVENTS)),
            Optional("branch", default=None): maybe(regex),
            Optional("approval", default=[]): approvals,
            Optional("comment", default=None): maybe(regex),
        }, trigger)),
        "require": All({
            Optional("approval", default=[]): approvals,
            Optional("open", default=None): maybe(flag),
            Optional("current-patchset", default=None): maybe(flag),
            Optional("wip", default=None): maybe(flag),
        }, require),
        "reporter": All({Optional("submit"): flag, Extra: object}, reporter),
    }
