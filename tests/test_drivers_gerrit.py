"""The gerrit connection against the stand-in, over real SSH and real git:
events handed on only once their patch set is in gateq's mirror, nothing
lost across a dropped stream (reconciliation), the connection's state,
change information, and landing by push (a compare-and-swap) or submit."""
from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import replace

import pytest

from gateq.drivers.base import AlreadyOnBranch, TriggerQuery, Unreachable
from gateq.drivers.depends_on import GerritChange
from gateq.drivers.gerrit import Backoff
from gateq.drivers.gerrit.connection import GerritConnection
from gateq.drivers.gerrit.schema import LandMode
from gateq.drivers.records import (ChangeRef, ChangeState, LandOutcome, LandRequest, LinkState,
                                   Origin, ReviewEvent, ReviewEventKind, Vote)
from gerrit import keys
from gerrit.fixtures import gerrit, gerrit_site, own_gerrit, project, session_keys  # noqa: F401
from gerrit.standin import wait_for

APPROVED = {"Code-Review": 2, "Workflow": 1}


class Deliveries:
    """What the connection handed on, with whether the event's commit was
    already in the mirror at that moment."""

    def __init__(self) -> None:
        self.events: list[tuple[ReviewEvent, bool]] = []
        self.lock = threading.Lock()
        self.connection: GerritConnection | None = None

    def __call__(self, event: ReviewEvent) -> None:
        present = None
        if event.change is not None and event.change.revision:
            present = subprocess.run(["git", "-C", self.connection.repo_path(event.project),
                                      "cat-file", "-e", event.change.revision + "^{commit}"]
                                     ).returncode == 0
        with self.lock:
            self.events.append((event, present))

    def wait(self, match, timeout: float = 15, what: str = "an event", count: int = 1):
        def found():
            with self.lock:
                hits = [(e, p) for e, p in self.events if match(e)]
            return hits if len(hits) >= count else None
        return wait_for(found, timeout, what)

    def matching(self, match):
        with self.lock:
            return [e for e, _ in self.events if match(e)]


def connection_for(site, tmp_path, name="review", land=LandMode.PUSH, **overrides):
    settings = site.settings(**overrides)
    return GerritConnection(name, settings, f"ssh://gateq@127.0.0.1:{site.standin.port}",
                            "http://review.example.org", str(tmp_path / "mirror"), land,
                            reconcile_interval=300, backoff=Backoff(initial=0.2, maximum=1.0))


@pytest.fixture
def started(gerrit, project, tmp_path):
    """A started connection serving `project`, with its deliveries."""
    deliveries = Deliveries()
    conn = connection_for(gerrit, tmp_path)
    deliveries.connection = conn
    gate = TriggerQuery("gate", ReviewEventKind.COMMENT, (project,),
                        (("Code-Review", 2), ("Workflow", 1)))
    conn.start(deliveries, [gate], [project])
    wait_for(lambda: conn.status().reconciliations >= 1, 15, "the first reconciliation")
    yield conn, deliveries
    conn.stop()


def is_change(kind, number, origin=None):
    return lambda e: (e.kind is kind and e.change is not None and e.change.number == number
                      and (origin is None or e.origin is origin))


def test_events_are_handed_on_with_their_patch_set_in_the_mirror(gerrit, project, started):
    conn, deliveries = started
    alice = gerrit.users["alice"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Fix it")     # a real push
    [(proposed, present)] = deliveries.wait(is_change(ReviewEventKind.PROPOSED, change.number))
    assert present is True
    assert (proposed.connection, proposed.project, proposed.branch, proposed.state) == (
        "review", project, "main", ChangeState.OPEN)
    assert proposed.change == ChangeRef(change.ref, change.revision, change.number, 1,
                                        f"http://review.example.org/c/{project}/+/{change.number}")
    gerrit.standin.review(change.number, alice, {"Code-Review": 2}, "Good")
    [(comment, _)] = deliveries.wait(is_change(ReviewEventKind.COMMENT, change.number))
    assert comment.vote("Code-Review") == Vote("Code-Review", 2, 0, None)
    assert comment.actor == "alice" and comment.comment.endswith("Good")
    pinned = conn.pin(project, comment.change, "main")
    assert (pinned.revision, pinned.ref, pinned.commits) == (change.revision, change.ref,
                                                             frozenset({change.revision}))
    assert conn.status().state is LinkState.UP and conn.status().events >= 2


def test_events_of_other_projects_are_not_handed_on(gerrit, project, started):
    _, deliveries = started
    gerrit.standin.create_project(f"{project}-other")
    other = gerrit.standin.upload(f"{project}-other", gerrit.users["alice"], {"f": "1"}, "X",
                                  via="api")
    mine = gerrit.standin.upload(project, gerrit.users["alice"], {"f": "1"}, "Mine", via="api")
    deliveries.wait(is_change(ReviewEventKind.PROPOSED, mine.number))
    assert not deliveries.matching(lambda e: e.project == f"{project}-other")
    assert other.number != mine.number


def test_branch_moves_are_followed_in_the_mirror(gerrit, project, started):
    conn, deliveries = started
    tip = gerrit.standin.push_branch(project, gerrit.users["alice"], {"g": "1"}, "Outside\n")
    deliveries.wait(lambda e: e.kind is ReviewEventKind.REF_UPDATED and e.ref_move.new == tip)
    assert conn.mirror.tips(project, ["main"]) == {"main": tip}
    gerrit.standin.call("move_branch", project=project, branch="stable", revision=tip, user="gateq")
    deliveries.wait(lambda e: e.kind is ReviewEventKind.REF_UPDATED and e.branch == "stable")
    gerrit.standin.delete_branch(project, "stable")
    deliveries.wait(lambda e: e.kind is ReviewEventKind.REF_UPDATED and e.branch == "stable"
                    and e.ref_move.new is None)
    assert conn.mirror.tips(project, ["main", "stable"]) == {"main": tip}


def test_a_dropped_stream_loses_nothing_approved_meanwhile(gerrit, project, started):
    conn, deliveries = started
    alice = gerrit.users["alice"]
    first = gerrit.standin.upload(project, alice, {"a": "1"}, "First", via="api")
    second = gerrit.standin.upload(project, alice, {"b": "1"}, "Second", via="api")
    unready = gerrit.standin.upload(project, alice, {"c": "1"}, "Unready", via="api")
    deliveries.wait(is_change(ReviewEventKind.PROPOSED, unready.number))
    runs = conn.status().reconciliations
    gerrit.standin.refuse_connections()
    gerrit.standin.drop_streams()
    wait_for(lambda: conn.status().state is LinkState.DOWN, 10, "the stream to be down")
    for change in (first, second):                        # nobody listens: stream-events drops them
        gerrit.standin.review(change.number, alice, APPROVED)
    gerrit.standin.review(unready.number, alice, {"Code-Review": 2})
    gerrit.standin.release()
    wait_for(lambda: conn.status().reconciliations > runs, 20, "a reconciliation on reconnection")
    found = deliveries.matching(lambda e: e.origin is Origin.RECONCILED)
    assert sorted(e.change.number for e in found) == [first.number, second.number]
    for event in found:
        assert (event.kind, event.pipeline, event.state, event.change.patchset) == (
            ReviewEventKind.COMMENT, "gate", ChangeState.OPEN, 1)
        assert {(v.label, v.value) for v in event.approvals} == {("Code-Review", 2), ("Workflow", 1)}
    present = [p for e, p in deliveries.events if e.origin is Origin.RECONCILED]
    assert present == [True, True]
    assert not deliveries.matching(lambda e: e.kind is ReviewEventKind.COMMENT
                                   and e.origin is Origin.STREAM)
    assert conn.status().last_reconcile_queries == 1


def test_reconciliation_also_runs_every_interval(gerrit, project, tmp_path):
    alice = gerrit.users["alice"]
    approved = gerrit.standin.upload(project, alice, {"a": "1"}, "Approved", via="api")
    gerrit.standin.review(approved.number, alice, APPROVED)
    conn = connection_for(gerrit, tmp_path)
    conn.reconcile_interval = 0.5
    deliveries = Deliveries()
    deliveries.connection = conn
    gate = TriggerQuery("gate", ReviewEventKind.COMMENT, (project,), (("Code-Review", 2),
                                                                      ("Workflow", 1)))
    conn.start(deliveries, [gate], [project])
    try:
        found = deliveries.wait(lambda e: e.origin is Origin.RECONCILED, count=3,
                                what="three reconciliations")
        assert {e.change.number for e, _ in found} == {approved.number}
        status = conn.status()
        assert (status.connects, status.last_reconcile_error) == (1, None)   # no reconnection
        assert status.reconciliations >= 3
    finally:
        conn.stop()


def test_reconciliation_asks_once_per_project_and_trigger(gerrit, tmp_path):
    alice = gerrit.users["alice"]
    made = {}
    for name in ("rec-a", "rec-b"):
        gerrit.standin.create_project(name)
        gerrit.standin.call("move_branch", project=name, branch="stable/1",
                            revision=gerrit.standin.branch_tip(name), user="gateq")
        for branch in ("main", "stable/1"):
            change = gerrit.standin.upload(name, alice, {"f": branch}, f"On {branch}",
                                           branch=branch, via="api")
            gerrit.standin.review(change.number, alice, APPROVED)
            made[(name, branch)] = change.number
    wip = gerrit.standin.upload("rec-a", alice, {"w": "1"}, "WIP", via="api")
    gerrit.standin.review(wip.number, alice, APPROVED)
    gerrit.standin.set_wip(wip.number, alice)
    projects = ("rec-a", "rec-b")
    queries = [TriggerQuery("gate", ReviewEventKind.COMMENT, projects, (("Workflow", 1),
                            ("Code-Review", 2))),
               TriggerQuery("gate-stable", ReviewEventKind.COMMENT, projects,
                            (("Workflow", 1), ("Code-Review", 2)), branch=r"stable/"),
               TriggerQuery("check", ReviewEventKind.PROPOSED, ("rec-b",), wip=None),
               TriggerQuery("recheck", ReviewEventKind.COMMENT, projects)]   # no state to find
    conn = connection_for(gerrit, tmp_path)
    found = conn.reconcile(queries)
    assert found.queries == 3              # gate and gate-stable share theirs; recheck has none
    by_pipeline = {}
    for event in found.events:
        by_pipeline.setdefault(event.pipeline, set()).add(event.change.number)
    assert by_pipeline == {
        "gate": set(made.values()),
        "gate-stable": {made[("rec-a", "stable/1")], made[("rec-b", "stable/1")]},
        "check": {made[("rec-b", "main")], made[("rec-b", "stable/1")]}}
    assert all(conn.mirror.has(e.project, e.change.revision) for e in found.events)
    conn.stop()


def test_the_state_shows_a_server_down_at_start_then_up(own_gerrit, tmp_path):
    own_gerrit.standin.create_project("nova")
    own_gerrit.standin.stop()
    conn = connection_for(own_gerrit, tmp_path)
    conn.start(Deliveries(), [], ["nova"])
    try:
        down = wait_for(lambda: conn.status() if conn.status().state is LinkState.DOWN else None,
                        10, "the connection to be down")
        assert down.last_error == f"gerrit 127.0.0.1:{own_gerrit.standin.port}: connection refused"
        assert down.since is not None and down.reconciliations == 0
        own_gerrit.standin.start()
        wait_for(lambda: conn.status().state is LinkState.UP and conn.status().reconciliations,
                 20, "the connection to come up and reconcile")
        assert conn.mirror.tips("nova", ["main"]) == {"main": own_gerrit.standin.branch_tip("nova")}
    finally:
        conn.stop()
    assert conn.status().state is LinkState.STOPPED


def test_an_unknown_host_key_is_one_line_naming_its_fingerprint(gerrit, tmp_path):
    other = keys.generate(str(tmp_path / "other"))
    known_hosts = gerrit.standin.write_known_hosts(str(tmp_path / "kh"), other.public)
    conn = connection_for(gerrit, tmp_path, known_hosts=known_hosts)
    conn.start(Deliveries(), [], [])
    try:
        down = wait_for(lambda: conn.status() if conn.status().last_error else None, 10,
                        "the connection to fail")
    finally:
        conn.stop()
    assert "\n" not in down.last_error and "host key changed" in down.last_error
    assert f"ssh-ed25519 {gerrit.standin.host_key.fingerprint}" in down.last_error
    stranger = str(tmp_path / "stranger_kh")
    with open(stranger, "w") as f:
        f.write(keys.known_hosts_line("127.0.0.1", 1, other.public))
    conn = connection_for(gerrit, tmp_path, known_hosts=stranger)
    conn.start(Deliveries(), [], [])
    try:
        down = wait_for(lambda: conn.status() if conn.status().last_error else None, 10,
                        "the connection to fail")
    finally:
        conn.stop()
    assert "unknown host key" in down.last_error and "\n" not in down.last_error
    assert gerrit.standin.host_key.fingerprint in down.last_error


def test_git_refuses_a_server_whose_host_key_is_not_known(gerrit, project, tmp_path):
    other = keys.generate(str(tmp_path / "other"))
    stranger = str(tmp_path / "stranger_kh")
    with open(stranger, "w") as f:
        f.write(keys.known_hosts_line("127.0.0.1", 1, other.public))
    change = gerrit.standin.upload(project, gerrit.users["alice"], {"f": "1"}, "X", via="api")
    conn = connection_for(gerrit, tmp_path, known_hosts=stranger)
    with pytest.raises(Unreachable) as exc:
        conn.mirror.fetch_patchsets(project, [change.ref], ["main"])
    assert "\n" not in str(exc.value) and "No ED25519 host key is known" in str(exc.value)
    assert not conn.mirror.has(project, change.revision)
    conn.stop()
    changed = gerrit.standin.write_known_hosts(str(tmp_path / "changed_kh"), other.public)
    conn = connection_for(gerrit, tmp_path, known_hosts=changed)
    with pytest.raises(Unreachable) as exc:
        conn.mirror.fetch_branches(project)
    assert str(exc.value).endswith(
        f"git fetch of {project} failed: host key changed: the server offers "
        f"{gerrit.standin.host_key.fingerprint}, not the one in known-hosts; refusing to connect")
    conn.stop()


def test_a_hook_event_is_completed_and_fetched(gerrit, project, tmp_path):
    """A comment-added hook names the commit, not the patch set."""
    alice = gerrit.users["alice"]
    first = gerrit.standin.upload(project, alice, {"f": "1"}, "Hooked", via="api")
    second = gerrit.standin.new_patchset(first.number, alice, {"f": "2"}, via="api")
    conn = connection_for(gerrit, tmp_path)
    for revision, patchset in ((second.revision, 2), (first.revision, 1)):
        hook = ReviewEvent("review", ReviewEventKind.COMMENT, project, "main",
                           ChangeRef(None, revision, first.number), origin=Origin.HOOK)
        prepared = conn.prepare(hook)
        assert (prepared.change.patchset, prepared.change.ref) == (
            patchset, f"refs/changes/{first.number % 100:02d}/{first.number}/{patchset}")
        assert conn.mirror.has(project, revision)
    conn.stop()


def test_change_info_gives_votes_state_and_dependencies(gerrit, project, tmp_path):
    alice = gerrit.users["alice"]
    base = gerrit.standin.upload(project, alice, {"a": "1"}, "Base", via="api")
    body = "Depends-On: http://review.example.org/c/other/+/77\nDepends-On: nope"
    top = gerrit.standin.upload(project, alice, {"b": "1"}, "Top", parent=base.revision,
                                body=body, via="api")
    gerrit.standin.review(top.number, alice, {"Code-Review": 2})
    gerrit.standin.set_wip(top.number, alice)
    conn = connection_for(gerrit, tmp_path)
    info = conn.change_info(project, ChangeRef(None, None, top.number))
    assert (info.state, info.wip, info.branch, info.change.patchset, info.change.revision) == (
        ChangeState.OPEN, True, "main", 1, top.revision)
    assert info.votes("Code-Review") == (2,) and info.has_votes({"Code-Review": 2})
    assert not info.has_votes(APPROVED)
    assert info.depends_on.references == (GerritChange("review", 77, "other"),)
    assert [u.value for u in info.depends_on.unrecognised] == ["nope"]
    assert [(p.number, p.patchset, p.revision) for p in info.parents] == [
        (base.number, 1, base.revision)]
    gerrit.standin.new_patchset(base.number, alice, {"a": "2"}, via="api")
    assert conn.change_info(project, ChangeRef(None, None, top.number)).stale_parents == (
        base.number,)
    gerrit.standin.abandon(base.number, alice)
    assert conn.change_info(project, ChangeRef(None, None, top.number)).parents == ()
    conn.stop()


# -- landing --------------------------------------------------------------------

def build_merge(conn, project, change, branch="main"):
    """What the merger would build: a merge of the change onto the branch tip."""
    conn.pin(project, ChangeRef(change.ref, change.revision, change.number, change.patchset),
             branch)
    path = conn.repo_path(project)
    tip = conn.mirror.tips(project, [branch])[branch]
    tree = subprocess.run(["git", "-C", path, "merge-tree", "--write-tree", tip, change.revision],
                          capture_output=True, text=True, check=True).stdout.split()[0]
    env = {**os.environ, "GIT_AUTHOR_NAME": "gateq", "GIT_AUTHOR_EMAIL": "gateq@localhost",
           "GIT_COMMITTER_NAME": "gateq", "GIT_COMMITTER_EMAIL": "gateq@localhost"}
    merge = subprocess.run(["git", "-C", path, "commit-tree", tree, "-p", tip, "-p",
                            change.revision, "-m", "Merge"], capture_output=True, text=True,
                           env=env, check=True).stdout.strip()
    return tip, merge


def land_request(change, project, old, new):
    return LandRequest(project, "main", old, new,
                       ChangeRef(change.ref, change.revision, change.number, change.patchset),
                       (("Verified", 2),))


def test_land_push_is_a_compare_and_swap(gerrit, project, tmp_path):
    alice = gerrit.users["alice"]
    conn = connection_for(gerrit, tmp_path)
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Land me", via="api")
    old, new = build_merge(conn, project, change)
    landed = conn.land(land_request(change, project, old, new))
    assert (landed.outcome, landed.commit, landed.tree_matches) == (LandOutcome.LANDED, new, True)
    assert gerrit.standin.branch_tip(project) == new
    assert gerrit.standin.change(change.number)["status"] == "MERGED"
    assert conn.mirror.tips(project, ["main"]) == {"main": new}
    again = conn.land(land_request(change, project, old, new))     # a retry after a crash
    assert (again.outcome, again.commit) == (LandOutcome.LANDED, new)
    with pytest.raises(AlreadyOnBranch):
        conn.pin(project, ChangeRef(change.ref, change.revision, change.number, 1), "main")

    later = gerrit.standin.upload(project, alice, {"g": "1"}, "Late", via="api")
    base, merge = build_merge(conn, project, later)
    outside = gerrit.standin.push_branch(project, alice, {"h": "1"}, "Outside gateq\n")
    moved = conn.land(land_request(later, project, base, merge))
    assert (moved.outcome, moved.commit) == (LandOutcome.MOVED, outside)
    assert moved.reason == (f"branch main of {project} moved from {base[:12]} to "
                            f"{outside[:12]} outside gateq")
    assert gerrit.standin.branch_tip(project) == outside

    gerrit.standin.call("move_branch", project=project, branch="stable", revision=outside,
                        user="gateq")
    gone = gerrit.standin.upload(project, alice, {"i": "1"}, "Gone", branch="stable", via="api")
    base, merge = build_merge(conn, project, gone, "stable")
    gerrit.standin.delete_branch(project, "stable")
    deleted = conn.land(replace(land_request(gone, project, base, merge), branch="stable"))
    assert deleted.outcome is LandOutcome.DELETED and "deleted on Gerrit" in deleted.reason
    conn.stop()


def test_land_push_to_a_server_that_is_down_is_unreachable(own_gerrit, tmp_path):
    own_gerrit.standin.create_project("nova")
    change = own_gerrit.standin.upload("nova", own_gerrit.users["alice"], {"f": "1"}, "X",
                                       via="api")
    conn = connection_for(own_gerrit, tmp_path)
    old, new = build_merge(conn, "nova", change)
    own_gerrit.standin.stop()
    result = conn.land(land_request(change, "nova", old, new))
    assert result.outcome is LandOutcome.UNREACHABLE and "\n" not in result.reason
    assert "connection refused" in result.reason.lower()
    own_gerrit.standin.start()
    assert conn.land(land_request(change, "nova", old, new)).outcome is LandOutcome.LANDED
    conn.stop()


def test_land_submit_says_when_the_landed_tree_is_not_the_tested_one(gerrit, project, tmp_path):
    alice = gerrit.users["alice"]
    conn = connection_for(gerrit, tmp_path, land=LandMode.SUBMIT)
    same = gerrit.standin.upload(project, alice, {"f": "1"}, "Same", via="api")
    gerrit.standin.review(same.number, alice, APPROVED)
    old, new = build_merge(conn, project, same)
    landed = conn.land(land_request(same, project, old, new))
    assert (landed.outcome, landed.tree_matches, landed.commit) == (
        LandOutcome.LANDED, True, gerrit.standin.branch_tip(project))
    [call] = gerrit.standin.reviews(f"{same.number},1")
    assert (call["labels"], call["submit"], call["outcome"]) == ({"Verified": 2}, True, "applied")

    other = gerrit.standin.upload(project, alice, {"g": "1"}, "Other", via="api")
    gerrit.standin.review(other.number, alice, APPROVED)
    old, new = build_merge(conn, project, other)
    outside = gerrit.standin.push_branch(project, alice, {"h": "1"}, "Outside gateq\n")
    landed = conn.land(land_request(other, project, old, new))
    tip = gerrit.standin.branch_tip(project)
    assert (landed.outcome, landed.commit, landed.tree_matches) == (LandOutcome.LANDED, tip, False)
    assert tip != new and outside in subprocess.run(
        ["git", "-C", conn.repo_path(project), "rev-list", tip], capture_output=True,
        text=True).stdout
    assert "whose tree is not the tree gateq tested" in landed.reason
    assert gerrit.standin.change(other.number)["status"] == "MERGED"

    unready = gerrit.standin.upload(project, alice, {"i": "1"}, "Unready", via="api")
    old, new = build_merge(conn, project, unready)
    refused = conn.land(replace(land_request(unready, project, old, new), labels=()))
    assert refused.outcome is LandOutcome.REFUSED and "needs" in refused.reason
    conn.stop()
