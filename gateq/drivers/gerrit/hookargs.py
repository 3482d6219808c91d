"""The Gerrit hooks plugin's arguments, as ReviewEvents: for gateq run as
the `patchset-created`, `comment-added`, `change-merged`,
`change-abandoned`, `change-restored` and `ref-updated` hook scripts.

The plugin passes `--name value` pairs (an empty value when it has none);
votes come as `--LABEL VALUE`, with `--LABEL-oldValue VALUE` when the
comment changed them. Arguments gateq does not use are ignored; a missing
one leaves its field empty (the engine fills in what it needs when it
prepares the event: the patch set of a commit, its fetch). No network, no
git: a hook must return at once. Pure, apart from the clock.
"""
from __future__ import annotations

import re
import time
from typing import Sequence

from ..records import (ChangeRef, ChangeState, Origin, RefMove, ReviewEvent, ReviewEventKind,
                       Vote)

HOOKS = {
    "patchset-created": (ReviewEventKind.PROPOSED, "uploader", ChangeState.OPEN),
    "comment-added": (ReviewEventKind.COMMENT, "author", ChangeState.UNKNOWN),
    "change-merged": (ReviewEventKind.MERGED, "submitter", ChangeState.MERGED),
    "change-abandoned": (ReviewEventKind.ABANDONED, "abandoner", ChangeState.ABANDONED),
    "change-restored": (ReviewEventKind.RESTORED, "restorer", ChangeState.OPEN),
    "ref-updated": (ReviewEventKind.REF_UPDATED, "submitter", ChangeState.UNKNOWN),
}
# Every argument the plugin sends that is not a vote (any hook, any version).
KNOWN = frozenset("""change change-url change-owner change-owner-username project branch topic
    uploader uploader-username author author-username submitter submitter-username abandoner
    abandoner-username restorer restorer-username commit patchset comment reason kind is-draft
    newrev oldrev refname private wip updater updater-username hashtag added removed
    reviewer reviewer-username remover remover-username""".split())
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
INTEGER = re.compile(r"[+-]?\d+\Z")
NUMBER_IN_URL = re.compile(r"/(\d+)/?\Z")
NUMBER_IN_ID = re.compile(r"~(\d+)\Z")
ZERO = "0" * 40


class HookArgumentError(ValueError):
    """An argument gateq needs is unusable; the message is one line."""


def parse_hook(hook: str, argv: Sequence[str], connection: str) -> ReviewEvent:
    if hook not in HOOKS:
        raise HookArgumentError(f"unknown gerrit hook '{hook}' (gateq handles "
                                f"{', '.join(HOOKS)})")
    kind, actor_key, state = HOOKS[hook]
    args = pairs(argv)
    project = args.get("project")
    if not project:
        raise HookArgumentError(f"{hook}: --project is missing: cannot tell which project "
                                "the event is about")
    actor = args.get(f"{actor_key}-username") or args.get(actor_key) or None
    common = dict(connection=connection, kind=kind, project=project, state=state, actor=actor,
                  created_at=time.time(), origin=Origin.HOOK)
    if kind is ReviewEventKind.REF_UPDATED:
        return _ref_updated(hook, args, common)
    return ReviewEvent(branch=args.get("branch") or None, change=_change(hook, args),
                       approvals=votes(args), comment=args.get("comment") or None, **common)


def pairs(argv: Sequence[str]) -> dict[str, str]:
    """Values by name. The plugin always passes `--name value` pairs, so the
    word after a name is its value whatever it looks like (a comment may
    start with `--`); `--name=value` is read too, for people typing them."""
    found: dict[str, str] = {}
    words = iter(argv)
    for word in words:
        if not word.startswith("--") or len(word) == 2:
            continue                                  # a stray word: not ours to judge
        name, equals, value = word[2:].partition("=")
        found[name] = value if equals else next(words, "")
    return found


def votes(args: dict[str, str]) -> tuple[Vote, ...]:
    found = []
    for name, value in args.items():
        if name in KNOWN or name.endswith("-oldValue") or not LABEL.match(name):
            continue
        if not INTEGER.match(value.strip()):
            continue                                  # not a vote: an argument we do not know
        old = args.get(f"{name}-oldValue", "").strip()
        found.append(Vote(name, int(value), int(old) if INTEGER.match(old) else None))
    return tuple(found)


def _change(hook: str, args: dict[str, str]) -> ChangeRef:
    number = _number(args)
    patchset = _integer(hook, args, "patchset")
    ref = None
    if number is not None and patchset is not None:
        ref = f"refs/changes/{number % 100:02d}/{number}/{patchset}"
    return ChangeRef(ref, args.get("commit") or None, number, patchset,
                     args.get("change-url") or None)


def _number(args: dict[str, str]) -> int | None:
    """The change number: the plugin puts it at the end of --change-url;
    Gerrit 3's --change (`project~number`) may carry it too."""
    for pattern, value in ((NUMBER_IN_URL, args.get("change-url", "")),
                           (NUMBER_IN_ID, args.get("change", ""))):
        match = pattern.search(value)
        if match:
            return int(match.group(1))
    change = args.get("change", "")
    return int(change) if change.isdigit() else None


def _integer(hook: str, args: dict[str, str], name: str) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise HookArgumentError(f"{hook}: --{name} {value!r} is not a positive number")
    return int(value)


def _ref_updated(hook: str, args: dict[str, str], common: dict) -> ReviewEvent:
    ref = args.get("refname")
    if not ref:
        raise HookArgumentError(f"{hook}: --refname is missing: cannot tell which ref moved")
    full = ref if ref.startswith("refs/") else "refs/heads/" + ref   # Gerrit 2 sent branch names
    move = RefMove(full, _rev(args.get("oldrev")), _rev(args.get("newrev")))
    return ReviewEvent(branch=move.branch, ref_move=move, **common)


def _rev(value: str | None) -> str | None:
    return None if not value or value == ZERO else value
