"""A forge connection against the stand-in (real git behind a real HTTP
API), for each forge: webhook deliveries through the web service into the
intake table, prepared into the mirror; the pull request's state and
votes; reconciliation over pages; landing by a push with a lease that the
forge shows as merged; statuses and one comment reported.

The engine is not in this test (it is being wired to connections
elsewhere): this is the driver, web and intake level."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from forge.config import add_forge
from forge.hooks import comment_hook, delivery, pull_hook
from forge.standin import TOKEN, ForgeStandIn
from gate_fixture import Gate, wait_until
from gateq.config.loader import load_config
from gateq.drivers import registry
from gateq.drivers.base import AlreadyOnBranch, DriverError, NotFound, TriggerQuery, Unreachable
from gateq.drivers.depends_on import GerritChange, parse
from gateq.drivers.records import (ChangeRef, ChangeState, LandOutcome, LandRequest, LinkState,
                                   Report, ReviewEvent, ReviewEventKind, Vote)
from gateq.git import repo as git_repo
from test_web_helpers import add_web, web_service

K = ReviewEventKind
PROJECT = "rpms/nova"


@pytest.fixture(params=("github", "gitea", "gitlab"))
def setup(request, tmp_path):
    with ForgeStandIn(tmp_path / "forge", request.param) as forge:
        forge.make_project(PROJECT)
        g = Gate(tmp_path / "gate")
        add_web(g)
        add_forge(g, request.param, forge.url, forge.git_url)
        config = load_config(g.config)
        connection = registry.build_connections(
            {n: dict(c.settings) for n, c in config.connections.items()}, config.state_dir)["forge"]
        yield g, forge, connection


def intake(g: Gate) -> list[ReviewEvent]:
    with sqlite3.connect(os.path.join(g.config, "state", "gateq.db")) as db:
        rows = db.execute("SELECT event FROM intake WHERE connection = 'forge' ORDER BY id")
        return [ReviewEvent.from_dict(json.loads(e)) for (e,) in rows]


def test_a_gated_pull_request_is_heard_prepared_landed_and_reported(setup):
    g, forge, connection = setup
    flavour = forge.flavour
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
    with web_service(g) as web:
        for event, payload in (pull_hook(forge, PROJECT, number, "opened"),
                               pull_hook(forge, PROJECT, number, "labeled", label="gate"),
                               comment_hook(forge, PROJECT, number, "recheck")):
            status, _, body = web.request("POST", "/api/connections/forge/payload",
                                          *delivery(flavour, event, payload))
            assert status == 200, body
    opened, labeled, comment = intake(g)
    assert (opened.kind, labeled.kind, comment.kind) == (K.PROPOSED, K.APPROVED, K.COMMENT)
    assert labeled.approvals == (Vote("label:gate", 1, 0, "alice"),)

    head = forge.head(PROJECT, number)
    mirror = connection.repo_path(PROJECT)
    assert not git_repo.has_commit(mirror, head)
    assert connection.prepare(opened).change.revision == head
    assert git_repo.has_commit(mirror, head)                  # the merger needs no network
    prepared = connection.prepare(comment)                    # a comment names the number only
    assert (prepared.branch, prepared.change.revision) == ("main", head)

    info = connection.change_info(PROJECT, opened.change)
    assert (info.state, info.branch, info.change.revision, info.wip) == (
        ChangeState.OPEN, "main", head, False)
    assert info.has_votes({"label:gate": 1}) and not info.has_votes({"review:approved": 1})
    forge.reviews[(PROJECT, number)].append(("carol", "APPROVED"))
    assert connection.change_info(PROJECT, opened.change).has_votes({"review:approved": 1})
    change = connection.pin(PROJECT, opened.change, "main")
    assert (change.revision, change.commits) == (head, frozenset({head}))

    old = forge.tip(PROJECT)
    result = connection.land(LandRequest(PROJECT, "main", old, head, opened.change))
    assert (result.outcome, result.commit) == (LandOutcome.LANDED, head)
    assert forge.state(PROJECT, number) == "merged"           # the forge closed it as merged
    assert connection.change_info(PROJECT, opened.change).state is ChangeState.MERGED
    assert connection.land(LandRequest(PROJECT, "main", old, head)).outcome is \
        LandOutcome.LANDED                                    # a retry after a crash
    with pytest.raises(AlreadyOnBranch):
        connection.pin(PROJECT, opened.change, "main")


def test_the_reporter_sets_statuses_and_writes_one_comment(setup):
    g, forge, connection = setup
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a")
    head = forge.head(PROJECT, number)
    reporter = connection.reporter
    change_ref = ChangeRef(forge.head_ref(number), head, None, None, None)  # as results say it
    reporter.deliver(Report("r-start", "forge", PROJECT, change_ref, "gate",
                            "Starting gate jobs: check.", (("status", 0),)), 10)
    done = Report("r-done", "forge", PROJECT, change_ref, "gate",
                  "Build succeeded, merged (gate pipeline).\n\n- check: success in 3s, "
                  "log: https://gate.example.org/build/abc123", (("status", 1), ("comment", 1)))
    assert not reporter.delivered(done, 10)
    reporter.deliver(done, 10)
    statuses = forge.statuses[(PROJECT, head)]
    states = [s["state"] for s in statuses]
    names = {s.get("context") or s.get("name") for s in statuses}
    assert (states, names) == (["pending", "success"], {"gateq/gate"})
    assert statuses[1]["target_url"] == "https://gate.example.org/build/abc123"
    comments = forge.comments[(PROJECT, number)]
    assert len(comments) == 1 and comments[0].startswith("Build succeeded, merged")
    assert comments[0].endswith("gateq-report: r-done")
    assert reporter.delivered(done, 10)
    failed = forge.open_pull(PROJECT, {"b.txt": "2\n"}, "Add b")
    failed_ref = ChangeRef(forge.head_ref(failed), forge.head(PROJECT, failed), failed)
    reporter.deliver(Report("r-fail", "forge", PROJECT, failed_ref, "gate", "Build failed.",
                            (("status", -1), ("comment", 1))), 10)
    reporter.deliver(Report("r-dequeued", "forge", PROJECT, failed_ref, "gate", "Dequeued."), 10)
    word = "failed" if forge.flavour == "gitlab" else "failure"
    assert [s["state"] for s in forge.statuses[(PROJECT, failed_ref.revision)]] == [word]
    assert [c.splitlines()[0] for c in forge.comments[(PROJECT, failed)]] == [
        "Build failed.", "Dequeued."]                        # no verdict: a comment only


def test_a_landing_that_lost_the_race_says_moved(setup):
    g, forge, connection = setup
    first = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a")
    second = forge.open_pull(PROJECT, {"b.txt": "2\n"}, "Add b")
    old = forge.tip(PROJECT)
    one, two = (connection.change_info(PROJECT, ChangeRef(None, None, n)) for n in (first, second))
    for info in (one, two):                   # the merger's commits are in the mirror
        connection.pin(PROJECT, info.change, "main")
    assert connection.land(LandRequest(PROJECT, "main", old, one.change.revision)).ok
    result = connection.land(LandRequest(PROJECT, "main", old, two.change.revision))
    assert (result.outcome, result.commit) == (LandOutcome.MOVED, one.change.revision)
    assert forge.state(PROJECT, second) == "open"


def test_reconciliation_lists_open_pull_requests_over_pages(setup):
    g, forge, connection = setup
    gated = [forge.open_pull(PROJECT, {f"{i}.txt": "x\n"}, f"Change {i}", labels=["gate"])
             for i in range(3)]
    forge.open_pull(PROJECT, {"other.txt": "x\n"}, "Not gated", labels=["wip"])
    forge.open_pull(PROJECT, {"draft.txt": "x\n"}, "A draft", labels=["gate"], draft=True)
    query = TriggerQuery("gate", K.APPROVED, (PROJECT,), (("label:gate", 1),), "^main$", False)
    forge.calls.clear()
    found = connection.reconcile([query])
    assert sorted(e.change.number for e in found.events) == gated
    assert found.queries == 1 and {e.pipeline for e in found.events} == {"gate"}
    listings = [p for m, p in forge.calls if p.endswith(("/pulls", "/merge_requests"))]
    assert len(listings) == 3                                 # five pull requests, two a page
    assert all(git_repo.has_commit(connection.repo_path(PROJECT), e.change.revision)
               for e in found.events)


def test_refusals_and_silence_are_told_apart(setup, tmp_path):
    g, forge, connection = setup
    with pytest.raises(NotFound, match="404"):
        connection.change_info(PROJECT, ChangeRef(None, None, 99))
    (tmp_path / "wrong-token").write_text("not-the-token\n")
    config = load_config(g.config)
    settings = {**config.connections["forge"].settings, "token": str(tmp_path / "wrong-token")}
    wrong = registry.build("forge", settings, config.state_dir, {})
    with pytest.raises(DriverError, match="401 Bad credentials") as refused:
        wrong.change_info(PROJECT, ChangeRef(None, None, 1))
    assert not isinstance(refused.value, Unreachable) and "not-the-token" not in str(refused.value)
    forge.stop()                                              # the forge goes away
    heard = []
    query = TriggerQuery("gate", K.APPROVED, (PROJECT,), (("label:gate", 1),))
    connection.start(heard.append, [query], [PROJECT])
    try:
        status = wait_until(lambda: connection.status().state is LinkState.DOWN
                            and connection.status(), "the link down")
    finally:
        connection.stop()
    assert "no answer" in status.last_error and heard == []
    with pytest.raises(Unreachable):
        connection.change_info(PROJECT, ChangeRef(None, None, 1))


def test_git_over_http_carries_the_token_in_a_header_only(setup, tmp_path):
    g, forge, _ = setup
    config = load_config(g.config)
    settings = {**config.connections["forge"].settings, "git-url": forge.http_git_url,
                "mirror": str(tmp_path / "http-mirror")}
    connection = registry.build("forge", settings, config.state_dir, {})
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a")
    info = connection.change_info(PROJECT, ChangeRef(None, None, number))
    change = connection.pin(PROJECT, info.change, "main")            # fetched over HTTP
    result = connection.land(LandRequest(PROJECT, "main", forge.tip(PROJECT), change.revision))
    assert result.ok and forge.state(PROJECT, number) == "merged"    # pushed over HTTP
    assert forge.git_calls and all(ok for _, _, ok in forge.git_calls)
    assert any(m == "POST" and p.endswith("/git-receive-pack") for m, p, _ in forge.git_calls)
    assert not any(TOKEN in p for _, p, _ in forge.git_calls)
    (tmp_path / "wrong").write_text("wrong-token\n")
    wrong = registry.build("forge", {**settings, "token": str(tmp_path / "wrong"),
                                     "mirror": str(tmp_path / "other")}, config.state_dir, {})
    with pytest.raises(Unreachable, match="git fetch of rpms/nova failed") as refused:
        wrong.pin(PROJECT, info.change, "main")
    assert "wrong-token" not in str(refused.value)


def test_depends_on_names_pull_requests_of_any_forge_connection():
    """Whichever driver reads the footer (a Gerrit change may need a pull request)."""
    urls = {"hub": "https://github.example.com", "tea": "https://src.example.org/git",
            "lab": "https://gitlab.example.com", "review": "https://review.example.org"}
    message = ("Fix\n\nDepends-On: https://github.example.com/o/r/pull/7\n"
               "Depends-On: https://src.example.org/git/rpms/nova/pulls/8/files\n"
               "Depends-On: https://gitlab.example.com/g/sub/p/-/merge_requests/9\n"
               "Depends-On: https://review.example.org/c/nova/+/10\n"
               "Depends-On: https://elsewhere.example/o/r/pull/1\n")
    found = parse(message, urls)
    assert found.references == (GerritChange("hub", 7, "o/r"), GerritChange("tea", 8, "rpms/nova"),
                                GerritChange("lab", 9, "g/sub/p"),
                                GerritChange("review", 10, "nova"))
    assert [u.value for u in found.unrecognised] == ["https://elsewhere.example/o/r/pull/1"]
