"""Depends-On footers: the changes a commit message says it needs, for any
driver (pure: no I/O).

A value is a Gerrit change URL on a configured gerrit connection's web-url
(`https://HOST/c/PROJECT/+/123`, `https://HOST/#/c/123/`, `https://HOST/123`,
and `https://HOST/c/123`; a trailing patch set or file path is ignored),
or a forge pull request's page on a forge connection's web-url
(`HOST/OWNER/REPO/pull/N`, `.../pulls/N`, `.../-/merge_requests/N`),
or `PROJECT:REF` for the git driver (the ref as written; `fix-1` is the git
driver's short form of refs/heads/fix-1). Footer lines are found anywhere
in the message, case-insensitively, as Zuul does. A value that names
nothing known is kept with the reason, so it can be reported, not ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

FOOTER = re.compile(r"^[ \t]*Depends-On:[ \t]*(.*?)[ \t]*$", re.MULTILINE | re.IGNORECASE)
CHANGE_ID = re.compile(r"I[0-9a-f]{40}\Z")
GIT_REF = re.compile(r"(?P<project>[^\s:]+):(?P<ref>[^\s:]+)\Z")
# What follows the web-url's path: the change number, maybe a project.
CHANGE_PATHS = (re.compile(r"/c/(?P<project>.+?)/\+/(?P<number>\d+)(?:/.*)?\Z"),
                re.compile(r"/c/(?P<number>\d+)(?:/.*)?\Z"),
                re.compile(r"/(?P<number>\d+)/?\Z"))
# A forge's pull request page (GitHub, Gitea and Forgejo, GitLab), after the web-url.
PULL_PATH = re.compile(r"/(?P<project>.+?)(?:/-)?/(?:pull|pulls|merge_requests)/(?P<number>\d+)"
                       r"(?:/.*)?\Z")


@dataclass(frozen=True)
class GerritChange:
    """A change by number on a connection: a Gerrit change, or a forge's pull request."""
    connection: str
    number: int
    project: str | None = None        # when the URL names it


@dataclass(frozen=True)
class GitRef:
    project: str
    ref: str


@dataclass(frozen=True)
class Unrecognised:
    value: str
    reason: str


@dataclass(frozen=True)
class DependsOn:
    references: tuple[GerritChange | GitRef, ...] = ()
    unrecognised: tuple[Unrecognised, ...] = ()


def footer_values(message: str) -> list[str]:
    return FOOTER.findall(message)


def parse(message: str, web_urls: Mapping[str, str]) -> DependsOn:
    """Every Depends-On of `message`, in order and each once; `web_urls`
    maps gerrit connection names to their web-url."""
    found: list[GerritChange | GitRef] = []
    bad: list[Unrecognised] = []
    for value in footer_values(message):
        reference = parse_value(value, web_urls)
        if isinstance(reference, Unrecognised):
            bad.append(reference)
        elif reference not in found:
            found.append(reference)
    return DependsOn(tuple(found), tuple(bad))


def parse_value(value: str, web_urls: Mapping[str, str]) -> GerritChange | GitRef | Unrecognised:
    if not value:
        return Unrecognised(value, "empty Depends-On")
    if "://" in value:
        return _change_url(value, web_urls)
    if CHANGE_ID.match(value):
        return Unrecognised(value, "a Change-Id does not say which server or project; "
                                   "use the change's URL")
    match = GIT_REF.match(value)
    if match:
        return GitRef(match["project"], match["ref"])
    return Unrecognised(value, "expected a change URL or PROJECT:REF")


def _change_url(value: str, web_urls: Mapping[str, str]) -> GerritChange | Unrecognised:
    url = urlsplit(value)
    same_host = [(name, web) for name, web in web_urls.items()
                 if url.scheme in ("http", "https")
                 and url.netloc.lower() == urlsplit(web).netloc.lower()]
    if not same_host:
        return Unrecognised(value, f"no gerrit connection has the web-url "
                                   f"{url.scheme}://{url.netloc}")
    for connection, web_url in same_host:
        prefix = urlsplit(web_url).path.rstrip("/")
        number, project = _change_path(url, prefix)
        if number:
            return GerritChange(connection, number, project)
        number, project = _pull_path(url, prefix)
        if number:
            return GerritChange(connection, number, project)
    return Unrecognised(value, f"not a change URL of {same_host[0][1]} "
                               "(expected .../c/PROJECT/+/NUMBER)")


def _change_path(url, prefix: str) -> tuple[int | None, str | None]:
    """The change number (and project) the URL's path names under `prefix`."""
    rest = url.path[len(prefix):] if url.path.startswith(prefix) else None
    if rest is None or (rest and not rest.startswith("/")):
        return None, None
    if rest in ("", "/") and url.fragment:
        rest = url.fragment if url.fragment.startswith("/") else "/" + url.fragment
    for pattern in CHANGE_PATHS:
        match = pattern.match(rest)
        if match and int(match["number"]) > 0:
            return int(match["number"]), match.groupdict().get("project")
    return None, None


def _pull_path(url, prefix: str) -> tuple[int | None, str | None]:
    """The pull request number and project of a forge page under `prefix`."""
    match = PULL_PATH.match(url.path[len(prefix):]) if url.path.startswith(prefix + "/") else None
    if match is None or int(match["number"]) == 0:
        return None, None
    return int(match["number"]), match["project"]
