"""`gerrit query`: build the command, read its JSON lines into
ChangeRecords, and follow `--start` while the stats line says
`moreChanges`.

Pages are not a snapshot: a change updated between two pages moves to the
front and may be seen twice (kept once here) or missed (the next
reconciliation sees it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from voluptuous import Invalid, Optional

from .errors import GerritQueryError
from .shapes import (CHANGE, Approval, ChangeStatus, Dependency, PatchSetInfo, change_info,
                     dependency, maybe, patchset, schema)
from .ssh import GerritSSH

OPTIONS = ("--format", "JSON", "--current-patch-set", "--dependencies", "--commit-message",
           "--submit-records")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._/+-]+\Z")
_LABEL = re.compile(r"[A-Za-z0-9-]+\Z")


@dataclass(frozen=True)
class ChangeRecord:
    """A change as the query saw it, with its current patch set's votes."""
    number: int
    project: str | None
    branch: str | None
    change_id: str | None
    status: ChangeStatus
    wip: bool
    url: str | None
    subject: str | None
    topic: str | None
    commit_message: str | None
    patchset: int | None
    revision: str | None
    ref: str | None
    approvals: tuple[Approval, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    needed_by: tuple[Dependency, ...] = ()
    submittable: bool | None = None          # submitRecords: OK or not; None if not asked
    patchsets: tuple[PatchSetInfo, ...] = ()  # every patch set, with --patch-sets

    @property
    def is_open(self) -> bool:
        return self.status is ChangeStatus.NEW

    def votes(self, label: str) -> tuple[int, ...]:
        return tuple(a.value for a in self.approvals if a.label == label)


def _submittable(records) -> bool:
    if not isinstance(records, list):
        raise Invalid(f"expected a list, got {records!r}")
    return bool(records) and all(isinstance(r, dict) and r.get("status") == "OK" for r in records)


QUERY_CHANGE = schema({**CHANGE,
                       Optional("currentPatchSet", default=None): maybe(patchset),
                       Optional("dependsOn", default=[]): [dependency],
                       Optional("neededBy", default=[]): [dependency],
                       Optional("patchSets", default=[]): [patchset],
                       Optional("submitRecords", default=None): maybe(_submittable)})


def label_name(label: str) -> str:
    """A label name as Gerrit allows it (letters, digits and dashes)."""
    if not _LABEL.match(label):
        raise ValueError(f"not a Gerrit label name: {label!r}")
    return label


def operator(name: str, value: str) -> str:
    """`name:value`, the value in braces when it is not a plain word."""
    if _PLAIN_VALUE.match(value):
        return f"{name}:{value}"
    if "}" in value:
        raise ValueError(f"cannot put {value!r} in a Gerrit query")
    return f"{name}:{{{value}}}"


def open_changes(projects: Iterable[str], branch: str | None = None,
                 labels: Mapping[str, int] | None = None) -> str:
    """The query for open changes of these projects (and branch) that carry
    these votes on their current patch set, e.g. {"Code-Review": 2, "Workflow": 1}."""
    names = [operator("project", p) for p in projects]
    if not names:
        raise ValueError("no project to query")
    terms = ["status:open", names[0] if len(names) == 1 else "(" + " OR ".join(names) + ")"]
    if branch is not None:
        terms.append(operator("branch", branch))
    for label, value in (labels or {}).items():
        terms.append(f"label:{label_name(label)}={int(value)}")
    return " ".join(terms)


def query_command(query: str, start: int = 0, options: Iterable[str] = OPTIONS) -> list[str]:
    return ["gerrit", "query", *options, *(["--start", str(start)] if start else []), query]


@dataclass(frozen=True)
class QueryPage:
    changes: tuple[ChangeRecord, ...]
    row_count: int
    more: bool


def parse_output(stdout: str, server: str = "?") -> QueryPage:
    changes, stats = [], None
    for number, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise GerritQueryError(server, f"query output line {number} is not JSON") from None
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "stats":
            stats = data
        elif kind == "error":
            raise GerritQueryError(server, f"query refused: {data.get('message', '?')}")
        else:
            changes.append(_record(data, server, number))
    if stats is None:
        raise GerritQueryError(server, "query output has no stats line (cut short?)")
    return QueryPage(tuple(changes), int(stats.get("rowCount", len(changes))),
                     bool(stats.get("moreChanges", False)))


def _record(data, server: str, number: int) -> ChangeRecord:
    try:
        found = QUERY_CHANGE(data)
    except Invalid as exc:
        where = ".".join(str(step) for step in exc.path)
        raise GerritQueryError(server, f"query output line {number}: {where}: {exc.msg}") from None
    if found["number"] is None:
        raise GerritQueryError(server, f"query output line {number}: a change without a number")
    info, ps = change_info(found), found["currentPatchSet"]
    return ChangeRecord(info.number, info.project, info.branch, info.change_id, info.status,
                        info.wip, info.url, info.subject, info.topic, info.commit_message,
                        ps.number if ps else None, ps.revision if ps else None,
                        ps.ref if ps else None, ps.approvals if ps else (),
                        tuple(found["dependsOn"]), tuple(found["neededBy"]),
                        found["submitRecords"], tuple(found["patchSets"]))


def query_changes(ssh: GerritSSH, query: str, *, timeout: float | None = None,
                  max_pages: int = 100, options: Iterable[str] = OPTIONS) -> list[ChangeRecord]:
    """Every change the query matches, following pages; each change once."""
    seen: dict[int, ChangeRecord] = {}
    start = 0
    for _ in range(max_pages):
        page = parse_output(ssh.run(query_command(query, start, options), timeout=timeout).stdout,
                            ssh.settings.name)
        for record in page.changes:
            seen.setdefault(record.number, record)
        if not page.more:
            return list(seen.values())
        if page.row_count == 0:
            raise GerritQueryError(ssh.settings.name, "query says more changes but sent none")
        start += page.row_count
    raise GerritQueryError(ssh.settings.name, f"query still had more changes after {max_pages} pages")
