"""Depends-On footers naming forge pull requests (pure: no I/O).

A pull request's URL on a configured connection's web address names the
change on that connection, whichever forge it is: GitHub's
HOST/OWNER/REPO/pull/N, Gitea's and Forgejo's HOST/OWNER/REPO/pulls/N,
GitLab's HOST/GROUP/.../PROJECT/-/merge_requests/N. Anything else goes to
gateq/drivers/depends_on.py (Gerrit URLs, PROJECT:REF), so a forge change
may need a Gerrit change too. A pull request is told as a GerritChange
record (a change by number on a connection: what the engine asks for).
"""
from __future__ import annotations

import re
from typing import Mapping
from urllib.parse import urlsplit

from .. import depends_on
from ..depends_on import DependsOn, GerritChange, Unrecognised

PULL_PATH = re.compile(r"/(?P<project>.+?)(?:/-)?/(?:pull|pulls|merge_requests)/(?P<number>\d+)"
                       r"(?:/.*)?\Z")


def pull_reference(value: str, forge_urls: Mapping[str, str]) -> GerritChange | None:
    url = urlsplit(value)
    for connection, web_url in forge_urls.items():
        web = urlsplit(web_url)
        prefix = web.path.rstrip("/")
        if url.scheme in ("http", "https") and url.netloc.lower() == web.netloc.lower() \
                and url.path.startswith(prefix + "/"):
            match = PULL_PATH.match(url.path[len(prefix):])
            if match and int(match["number"]) > 0:
                return GerritChange(connection, int(match["number"]), match["project"])
    return None


def parse(message: str, forge_urls: Mapping[str, str], gerrit_urls: Mapping[str, str]
          ) -> DependsOn:
    """Every Depends-On of `message`, in order and each once."""
    found, bad = [], []
    for value in depends_on.footer_values(message):
        reference = pull_reference(value, forge_urls) if "://" in value else None
        if reference is None:
            reference = depends_on.parse_value(value, gerrit_urls)
        if isinstance(reference, Unrecognised):
            bad.append(reference)
        elif reference not in found:
            found.append(reference)
    return DependsOn(tuple(found), tuple(bad))
