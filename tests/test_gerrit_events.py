"""Parsing stream-events lines: Gerrit's documented shapes, old and new
servers' variations, missing fields, and lines that are not events."""
import json

import pytest

from gateq.drivers.gerrit import ChangeStatus, EventKind, EventParseError, parse_event

CHANGE = {"project": "nova", "branch": "main", "id": "I" + "a" * 40, "number": 1234,
          "subject": "Fix it", "owner": {"name": "Alice", "username": "alice"},
          "url": "https://review.example.org/c/nova/+/1234", "commitMessage": "Fix it\n",
          "createdOn": 1700000000, "status": "NEW"}
PATCHSET = {"number": 3, "revision": "b" * 40, "parents": ["c" * 40],
            "ref": "refs/changes/34/1234/3", "uploader": {"username": "alice"},
            "createdOn": 1700000100, "kind": "REWORK"}


def line(**event) -> str:
    return json.dumps(event)


@pytest.mark.parametrize("kind, actor_key, extra", [
    ("patchset-created", "uploader", {}),
    ("comment-added", "author", {"comment": "Patch Set 3: Workflow+1"}),
    ("change-merged", "submitter", {"newRev": "d" * 40}),
    ("change-abandoned", "abandoner", {"reason": "dup"}),
    ("change-restored", "restorer", {"reason": "not a dup"}),
    ("wip-state-changed", "changer", {}),
])
def test_change_events(kind, actor_key, extra):
    event = parse_event(line(type=kind, change=CHANGE, patchSet=PATCHSET,
                             **{actor_key: {"username": "bob"}}, eventCreatedOn=1700000200,
                             **extra))
    assert event.kind is EventKind(kind)
    assert event.actor.username == "bob"
    assert (event.change.number, event.change.project, event.change.branch) == (1234, "nova", "main")
    assert (event.change.change_id, event.change.status, event.change.wip) == (
        "I" + "a" * 40, ChangeStatus.NEW, False)
    assert (event.patchset.number, event.patchset.ref, event.patchset.parents) == (
        3, "refs/changes/34/1234/3", ("c" * 40,))
    assert event.created_on == 1700000200 and event.project == "nova"
    assert (event.comment, event.reason, event.new_rev) == (
        extra.get("comment"), extra.get("reason"), extra.get("newRev"))


def test_approval_values_are_strings_and_become_ints():
    event = parse_event(line(type="comment-added", change=CHANGE, patchSet=PATCHSET,
                             approvals=[{"type": "Code-Review", "description": "Code-Review",
                                         "value": "-2", "oldValue": "+1"},
                                        {"type": "Workflow", "value": "1"},
                                        {"description": "no type, so no meaning", "value": "1"}]))
    assert [(a.label, a.value, a.old_value) for a in event.approvals] == [
        ("Code-Review", -2, 1), ("Workflow", 1, None)]
    assert event.approval("Workflow").value == 1 and event.approval("Verified") is None


def test_old_servers_send_numbers_as_strings_and_short_ref_names():
    change = {**CHANGE, "number": "1234"}
    event = parse_event(line(type="patchset-created", change=change,
                             patchSet={**PATCHSET, "number": "3"}))
    assert (event.change.number, event.patchset.number) == (1234, 3)
    updated = parse_event(line(type="ref-updated", submitter={"name": "Bob"},
                               refUpdate={"oldRev": "0" * 40, "newRev": "e" * 40,
                                          "refName": "master", "project": "nova"}))
    assert (updated.ref_update.branch, updated.project, updated.actor.name) == ("master", "nova", "Bob")


def test_ref_updated_for_a_branch_and_for_other_refs():
    def ref(name):
        return parse_event(line(type="ref-updated", refUpdate={"refName": name})).ref_update.branch
    assert ref("refs/heads/stable/2026") == "stable/2026"
    assert ref("refs/changes/34/1234/3") is None and ref("refs/tags/1.0") is None


def test_every_field_may_be_missing():
    event = parse_event('{"type": "comment-added"}')
    assert event.kind is EventKind.COMMENT_ADDED
    assert (event.change, event.patchset, event.actor, event.approvals) == (None, None, None, ())
    bare = parse_event(line(type="change-merged", change={}))
    assert bare.change.number is None and bare.change.status is ChangeStatus.UNKNOWN


def test_wip_and_unknown_status():
    event = parse_event(line(type="wip-state-changed", change={**CHANGE, "wip": True,
                                                               "status": "DRAFT"}))
    assert event.change.wip is True and event.change.status is ChangeStatus.UNKNOWN


@pytest.mark.parametrize("kind", ["reviewer-added", "topic-changed", "dropped-output",
                                  "hashtags-changed", "project-created"])
def test_event_types_gateq_does_not_use_are_ignored(kind):
    assert parse_event(line(type=kind, change={"number": "not even checked"})) is None


@pytest.mark.parametrize("text, says", [
    ("", "not JSON"),
    ("{\"type\": \"comment-added\"", "not JSON"),
    ("[1, 2]", "not an event"),
    ('{"change": {}}', "not an event"),
    (line(type="comment-added", change={"number": "twelve"}),
     "comment-added: change.number: expected an integer, got 'twelve'"),
    (line(type="comment-added", approvals={"type": "x"}), "approvals: expected a list"),
    (line(type="change-merged", change={"wip": "yes"}), "change.wip: expected true or false"),
    (line(type="patchset-created", patchSet={"parents": "abc"}), "patchSet.parents"),
    (b"\xff\xfe", "not JSON"),
])
def test_malformed_lines_raise_one_line_errors(text, says):
    with pytest.raises(EventParseError) as exc:
        parse_event(text)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_a_long_malformed_line_is_shown_shortened():
    with pytest.raises(EventParseError) as exc:
        parse_event(line(type="comment-added", change={"number": "x"}, comment="y" * 500))
    assert len(str(exc.value)) < 200 and str(exc.value).endswith("...")
