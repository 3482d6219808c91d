"""`gerrit review`: votes, a message, a tag, then abandon, restore or
submit, for each `N,P` or commit given. Every call is recorded with its
outcome, so tests can assert exactly what a client reported.

Like Gerrit, a failure on one patch set prints `error: <why>` and the
command ends with `fatal: one or more approvals failed; review output
above` and exit status 1.
"""
from __future__ import annotations

import re
import time

from . import actions
from .cmdline import Option, Parsed, UsageError, parse
from .model import ReviewCall
from .session import Session
from .site import Refused

OPTIONS = [Option(("--project", "-p"), takes_value=True), Option(("--branch", "-b"), takes_value=True),
           Option(("--message", "-m"), takes_value=True), Option(("--notify", "-n"), takes_value=True),
           Option(("--submit", "-s")), Option(("--abandon",)), Option(("--restore",)),
           Option(("--label",), takes_value=True, repeat=True), Option(("--tag", "-t"), takes_value=True),
           Option(("--verified",), takes_value=True), Option(("--code-review",), takes_value=True),
           Option(("--strict-labels",))]
VOTE = re.compile(r"^([A-Za-z0-9-]+)=([+-]?\d+)$")
FAILED = "one or more approvals failed; review output above"


def run(session: Session) -> int:
    call = ReviewCall(seq=0, user=session.user, command=session.line, argv=session.argv[2:],
                      target="", labels={}, message=None, tag=None, submit=False, abandon=False,
                      restore=False, outcome="applied", at=time.time())
    try:
        opts = parse(session.argv[2:], OPTIONS)
        _describe(call, opts)
        if session.held():
            call.outcome = "cancelled"
            return 1
        if not opts.arguments:
            raise UsageError("Argument \"{COMMIT | CHANGE,PATCHSET}\" is required")
        errors = [error for target in opts.arguments
                  if (error := _apply(session, opts, call, target)) is not None]
        if errors:
            call.outcome = "failed: " + "; ".join(errors)
            session.err("".join(f"error: {e}\n" for e in errors) + f"fatal: {FAILED}\n")
            return 1
        return 0
    except UsageError as exc:
        call.outcome = f"failed: {exc}"
        session.err(f"fatal: {exc}\n")
        return 1
    finally:
        with session.site.changing() as state:
            call.seq = state.tick()
            state.reviews.append(call)


def _describe(call: ReviewCall, opts: Parsed) -> None:
    call.target = " ".join(opts.arguments)
    call.labels = _votes(opts)
    call.message, call.tag = opts.get("message"), opts.get("tag")
    call.submit, call.abandon, call.restore = (opts.flag("submit"), opts.flag("abandon"),
                                               opts.flag("restore"))
    if call.abandon and (call.submit or call.restore):
        raise UsageError("abandon and submit/restore actions are mutually exclusive")


def _votes(opts: Parsed) -> dict[str, int]:
    votes = {}
    for word in opts.get("label", []):
        match = VOTE.match(word)
        if match is None:
            raise UsageError(f'"{word}" is not a valid label vote (NAME=VALUE)')
        votes[match.group(1)] = int(match.group(2))
    for option, label in (("verified", "Verified"), ("code-review", "Code-Review")):
        value = opts.get(option)
        if value is not None:
            if not re.fullmatch(r"[+-]?\d+", value):
                raise UsageError(f'"{value}" is not a valid value for "--{option}"')
            votes[label] = int(value)
    return votes


def _apply(session: Session, opts: Parsed, call: ReviewCall, target: str) -> str | None:
    """Carry out the review on one target; the error line, if it failed."""
    site, who = session.site, session.user
    try:
        number, ps = _resolve(session, opts, target)
        if call.abandon:
            actions.review(site, who, number, ps, call.labels, None, call.tag)
            actions.abandon(site, who, number, call.message or "")
            return None
        if call.restore:
            actions.restore(site, who, number, call.message or "")
        actions.review(site, who, number, ps, call.labels, call.message, call.tag,
                       strict=opts.flag("strict-labels"))
        if call.submit:
            actions.submit(site, who, number, ps)
        return None
    except Refused as exc:
        return str(exc)


def _resolve(session: Session, opts: Parsed, target: str) -> tuple[int, int]:
    number, comma, ps = target.partition(",")
    if comma and number.isdigit() and ps.isdigit():
        return int(number), int(ps)
    found = [(c.number, p.number) for c in session.site.state.changes.values()
             for p in c.patchsets if p.revision.startswith(target.lower()) and len(target) >= 4
             and opts.get("project", c.project) == c.project
             and opts.get("branch", c.branch) == c.branch]
    if not found:
        raise Refused(f'"{target}" no such patch set')
    if len(found) > 1:
        raise Refused(f'"{target}" matches multiple patch sets')
    return found[0]
