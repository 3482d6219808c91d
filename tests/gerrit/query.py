"""`gerrit query`: Gerrit's search operators (a faithful subset) and its
JSON output, one change per line and then the stats line.

Supported: AND (or juxtaposition), OR, NOT / a leading `-`, parentheses,
and the operators status:, is: (open, closed, merged, abandoned, wip),
project:, branch:, change: (number or Change-Id), topic:, owner:, commit:,
label:NAME=V (also >=, <=, >, <, NAME+V, NAME-V; on the current patch set)
and limit:. Values may be quoted with "..." or {...}. Anything else gets
Gerrit's error line. Results are ordered most recently updated first.
"""
from __future__ import annotations

import json
import re
import time
from typing import Callable

from . import shapes
from .cmdline import Option, Parsed, UsageError, parse
from .model import Change, State, Status

OPTIONS = [Option(("--format",), takes_value=True), Option(("--current-patch-set",)),
           Option(("--patch-sets",)), Option(("--all-approvals",)), Option(("--comments",)),
           Option(("--commit-message",)), Option(("--dependencies",)),
           Option(("--submit-records",)), Option(("--all-reviewers",)),
           Option(("--start", "-S"), takes_value=True), Option(("--files",)),
           Option(("--no-limit",))]

Predicate = Callable[[State, Change], bool]
TOKEN = re.compile(r'\s*(\(|\)|-(?=\S)|[A-Za-z_]+:(?:\{[^}]*\}|"[^"]*"|[^\s()]+)|[^\s()]+)')
LABEL = re.compile(r"^([A-Za-z0-9-]+)(>=|<=|=|>|<|(?=[+-]\d))([+-]?\d+)$")


class QueryError(Exception):
    """A query Gerrit would not parse; shown as its {"type":"error"} line."""


def run(state: State, argv: list[str]) -> str:
    """The command's whole output, or raises UsageError for bad options."""
    opts = parse(argv, OPTIONS)
    if str(opts.get("format", "TEXT")).upper() != "JSON":
        raise UsageError("the stand-in prints --format JSON only")
    if opts.flag("files"):
        raise UsageError("the stand-in does not implement --files")
    started = time.monotonic()
    try:
        predicate, limits = Parser(" ".join(opts.arguments)).parse()
        start = int(opts.get("start", 0))
    except (QueryError, ValueError) as exc:
        return json.dumps({"type": "error", "message": str(exc)}) + "\n"
    limit = state.query_limit if opts.flag("no-limit") else min([state.query_limit, *limits])
    found = sorted((c for c in state.changes.values() if predicate(state, c)),
                   key=lambda c: (c.updated_on, c.updated_seq), reverse=True)
    page = found[start:start + limit]
    lines = [json.dumps(render(state, c, opts), separators=(",", ":")) for c in page]
    stats = {"type": "stats", "rowCount": len(page),
             "runTimeMilliseconds": int((time.monotonic() - started) * 1000),
             "moreChanges": len(found) > start + limit}
    return "".join(line + "\n" for line in lines) + json.dumps(stats) + "\n"


def render(state: State, change: Change, opts: Parsed) -> dict:
    shape = shapes.query_change(state, change, commit_message=opts.flag("commit-message"))
    if opts.flag("comments"):
        shape["comments"] = [{"timestamp": m.timestamp, "reviewer": shapes.account(state, m.author),
                              "message": m.text} for m in change.messages]
    if opts.flag("current-patch-set"):
        shape["currentPatchSet"] = shapes.patchset(state, change.current, approvals=True)
    if opts.flag("patch-sets") or opts.flag("all-approvals"):
        shape["patchSets"] = [shapes.patchset(state, ps, approvals=opts.flag("all-approvals"))
                              for ps in change.patchsets]
    if opts.flag("dependencies"):
        for key, found in (("dependsOn", shapes.depends_on(state, change)),
                           ("neededBy", shapes.needed_by(state, change))):
            if found:
                shape[key] = found
    if opts.flag("submit-records"):
        shape["submitRecords"] = shapes.submit_records(state, change)
    if opts.flag("all-reviewers"):
        voters = sorted({v.by for ps in change.patchsets for v in ps.votes})
        shape["allReviewers"] = [shapes.account(state, name) for name in voters]
    return shape


class Parser:
    """Recursive descent over the tokens: or := and (OR and)*;
    and := unary ([AND] unary)*; unary := (-|NOT) unary | ( or ) | term."""

    def __init__(self, text: str) -> None:
        self.tokens = [t for t in TOKEN.findall(text) if t]
        self.limits: list[int] = []

    def parse(self) -> tuple[Predicate, list[int]]:
        if not self.tokens:
            raise QueryError("Empty query")
        predicate = self._or()
        if self.tokens:
            raise QueryError(f"line 1:0 no viable alternative at input '{self.tokens[0]}'")
        return predicate, self.limits

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self.tokens and self.tokens[0] == "OR":
            self.tokens.pop(0)
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda s, c: any(p(s, c) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self.tokens and self.tokens[0] not in (")", "OR"):
            if self.tokens[0] == "AND":
                self.tokens.pop(0)
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else (lambda s, c: all(p(s, c) for p in parts))

    def _unary(self) -> Predicate:
        if not self.tokens:
            raise QueryError("line 1:0 mismatched input '<EOF>'")
        token = self.tokens.pop(0)
        if token in ("-", "NOT"):
            inner = self._unary()
            return lambda s, c: not inner(s, c)
        if token == "(":
            inner = self._or()
            if not self.tokens or self.tokens.pop(0) != ")":
                raise QueryError("line 1:0 missing ')'")
            return inner
        return self._term(token)

    def _term(self, token: str) -> Predicate:
        name, colon, value = token.partition(":")
        if not colon:
            raise QueryError(f"Unsupported query: {token} (the stand-in has no free-text search)")
        value = value[1:-1] if value[:1] in "{\"" and len(value) > 1 else value
        if name == "limit":
            self.limits.append(int(value))
            return lambda s, c: True
        make = OPERATORS.get(name)
        if make is None:
            raise QueryError(f"Unsupported operator {token}")
        return make(value)


def _status(value: str) -> Predicate:
    wanted = {"open": {Status.NEW}, "new": {Status.NEW}, "pending": {Status.NEW},
              "merged": {Status.MERGED}, "abandoned": {Status.ABANDONED},
              "closed": {Status.MERGED, Status.ABANDONED}}.get(value.lower())
    if wanted is None:
        raise QueryError(f"Unrecognized value: {value}")
    return lambda s, c: c.status in wanted


def _is(value: str) -> Predicate:
    if value == "wip":
        return lambda s, c: c.wip
    return _status(value)


def _change(value: str) -> Predicate:
    if value.isdigit():
        return lambda s, c: c.number == int(value)
    return lambda s, c: c.change_id == value


def _label(value: str) -> Predicate:
    match = LABEL.match(value)
    if match is None:
        raise QueryError(f"Unsupported operator label:{value}")
    name, op, wanted = match.group(1), match.group(2) or "=", int(match.group(3))
    compare = {"=": int.__eq__, ">=": int.__ge__, "<=": int.__le__, ">": int.__gt__,
               "<": int.__lt__}[op]

    def check(state: State, change: Change) -> bool:
        values = [v.value for v in change.current.votes if v.label == name]
        if op == "=" and wanted == 0:
            return not values
        return any(compare(v, wanted) for v in values)
    return check


OPERATORS: dict[str, Callable[[str], Predicate]] = {
    "status": _status,
    "is": _is,
    "project": lambda v: lambda s, c: c.project == v,
    "branch": lambda v: lambda s, c: c.branch == v.removeprefix("refs/heads/"),
    "change": _change,
    "topic": lambda v: lambda s, c: c.topic == v,
    "owner": lambda v: lambda s, c: c.owner == v,
    "commit": lambda v: lambda s, c: any(ps.revision.startswith(v) for ps in c.patchsets),
    "label": _label,
}
