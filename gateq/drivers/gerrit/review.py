"""`gerrit review`: the command that reports on a patch set (votes, a
message, a tag) and, with `submit`, asks Gerrit to merge it."""
from __future__ import annotations

from typing import Mapping

from .query import label_name


def review_command(number: int, patchset: int, *, labels: Mapping[str, int] | None = None,
                   message: str | None = None, tag: str | None = None,
                   submit: bool = False) -> list[str]:
    """The words of the command; pass them to GerritSSH.run, which quotes
    them (quotes, newlines and any Unicode in `message` survive). An empty
    message is left out: Gerrit cannot receive an empty argument."""
    if number < 1 or patchset < 1:
        raise ValueError(f"not a patch set: {number},{patchset}")
    argv = ["gerrit", "review"]
    for label, value in (labels or {}).items():
        argv += ["--label", f"{label_name(label)}={int(value)}"]
    if message:
        argv += ["--message", message]
    if tag:
        argv += ["--tag", tag]
    if submit:
        argv.append("--submit")
    return argv + [f"{number},{patchset}"]
