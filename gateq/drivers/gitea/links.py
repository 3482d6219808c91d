"""A Gitea pull request's web page, for a change named by its number or head ref (pure)."""
from __future__ import annotations

import re

from .dialect import GiteaDialect

NUMBER = re.compile(r"(?:refs/(?:pull|merge-requests)/)?[#!]?(?P<number>[1-9]\d*)(?:/head)?\Z")


def change_url(web_url: str | None, project: str, change: str) -> str | None:
    match = NUMBER.match(change)
    if web_url is None or match is None:
        return None
    return GiteaDialect().pull_url(web_url, project, int(match["number"]))
