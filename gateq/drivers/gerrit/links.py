"""Names of a Gerrit change as people write them, and its web page (pure).

A change is named by its patch set ref (refs/changes/34/1234/2), its
number (1234) or Gerrit's N,P (1234,2); its page is WEB-URL/c/PROJECT/+/N,
the form Gerrit itself links to.
"""
from __future__ import annotations

import re

PATCHSET_REF = re.compile(r"refs/changes/\d\d/(?P<number>\d+)/(?P<patchset>\d+)\Z")
NUMBER = re.compile(r"(?P<number>[1-9]\d*)(?:,(?P<patchset>[1-9]\d*))?\Z")


def patchset_ref(number: int, patchset: int) -> str:
    return f"refs/changes/{number % 100:02d}/{number}/{patchset}"


def parse_change(change: str) -> tuple[int, int | None] | None:
    """(number, patch set or None) of a ref, a number or N,P; None for anything else."""
    match = PATCHSET_REF.match(change) or NUMBER.match(change)
    if match is None:
        return None
    patchset = match["patchset"]
    return int(match["number"]), int(patchset) if patchset else None


def change_url(web_url: str | None, project: str, change: str) -> str | None:
    found = parse_change(change)
    if web_url is None or found is None:
        return None
    return f"{web_url.rstrip('/')}/c/{project}/+/{found[0]}"
