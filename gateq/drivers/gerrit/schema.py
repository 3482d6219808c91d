"""`connections: {NAME: {driver: gerrit, ...}}`: the gerrit driver's
attributes, as a voluptuous dict with every default. `git-url` and
`web-url` default from the others, in `defaults` (run once the rest is
valid), so the connection only builds objects. Imports nothing heavy:
`gateq validate` reads it without loading paramiko.
"""
from __future__ import annotations

import enum
import os
import re
from urllib.parse import urlsplit

from voluptuous import All, Invalid, Optional, Required

from ...config.errors import quote
from ...config.values import count, enum_choice, in_dir, maybe, text


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
        # gateq's own copy of each project; default: STATE/mirrors/NAME
        Optional("mirror", default=None): maybe(in_dir(config_dir)),
    }


def schema(config_dir: str) -> object:
    return All(fields(config_dir), defaults)
