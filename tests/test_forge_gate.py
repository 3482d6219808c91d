"""The engine driven by a forge: `gateq serve` (engine and web service in
one process) on the forge stand-in, for each forge. A pull request
labeled `gate` before the start is found by reconciliation; one labeled
while gateq runs arrives by a signed webhook. Each is tested, landed by a
push of the tested commit (the forge marks it merged), and reported: a
pending status, then success, and one summary comment."""
from __future__ import annotations

import json
import os

import pytest

from forge.config import STATUS_URL, add_forge
from forge.hooks import delivery, pull_hook
from forge.standin import ForgeStandIn
from gate_fixture import Gate, wait_until
from test_web_helpers import ServeProcess, add_web

PROJECT = "rpms/nova"
PIPELINE = """\
- pipeline:
    name: merge
    manager: dependent
    require:
      forge: {label: gate, open: true}
    trigger:
      forge:
        - event: approved
          label: gate
    start: {forge: {status: pending}}
    success: {forge: {status: success, merge: true}}
    failure: {forge: {status: failure}}
- project: {name: rpms/nova, connection: forge, queue: shared, merge: {jobs: [check]}}
"""


@pytest.fixture(params=("github", "gitea", "gitlab"))
def gate(request, tmp_path):
    with ForgeStandIn(tmp_path / "forge", request.param) as forge:
        forge.make_project(PROJECT)
        g = Gate(tmp_path / "gate")
        add_web(g)
        add_forge(g, request.param, forge.url, forge.git_url)
        with open(os.path.join(g.config, "layouts", "test.yaml"), "a") as f:
            f.write(PIPELINE)
        yield g, forge


def merged(g: Gate) -> dict:
    """The merge pipeline's results by change, as `gateq results` shows them."""
    return {r["change"]: r for r in json.loads(g.ok("results", "--json"))
            if r["pipeline"] == "merge"}


def link_of(g: Gate) -> dict | None:
    """The forge connection as `gateq status` shows it."""
    return json.loads(g.ok("status", "--json")).get("connections", {}).get("forge")


def test_labeled_pull_requests_are_gated_landed_and_reported(gate, tmp_path):
    g, forge = gate
    early = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    try:
        wait_until(lambda: forge.state(PROJECT, early) == "merged",
                   "the pull request labeled before the start to merge", timeout=90)
        link = wait_until(lambda: (found := link_of(g)) and found["state"] == "up"
                          and found["reconciliations"] and found,
                          "the forge connection's state (the status: a cache, a moment behind)")
        assert (link["state"], link["driver"], link["reconciliations"]) == (
            "up", forge.flavour, 1)
        late = forge.open_pull(PROJECT, {"b.txt": "2\n"}, "Add b", labels=["gate"])
        body, headers = delivery(forge.flavour, *pull_hook(forge, PROJECT, late, "labeled",
                                                           label="gate"))
        status, _, answer = serve.client.request("POST", "/api/connections/forge/payload",
                                                 body, headers)
        assert status == 200, answer
        wait_until(lambda: forge.state(PROJECT, late) == "merged",
                   "the pull request labeled by webhook to merge", timeout=90)
        for number in (early, late):
            wait_until(lambda: len(forge.comments[(PROJECT, number)]) == 1,
                       f"the summary comment on {number}", timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; gateq serve's log:\n{serve.stderr()[-5000:]}") from None
    finally:
        assert serve.stop() == 0, serve.stderr()
    for number in (early, late):
        head = forge.head(PROJECT, number)
        states = [(s["state"], s.get("context") or s.get("name"), s.get("target_url"))
                  for s in forge.statuses[(PROJECT, head)]]
        assert states == [("pending", "gateq/merge", STATUS_URL),   # no build page on port 0
                          ("success", "gateq/merge", STATUS_URL)], (number, states)
        [comment] = forge.comments[(PROJECT, number)]
        assert comment.startswith("Build succeeded, merged (merge pipeline).")
    results = [r for r in json.loads(g.ok("results", "--json")) if r["pipeline"] == "merge"]
    assert sorted(r["result"] for r in results) == ["merged", "merged"]
    assert forge.tip(PROJECT) in {r["commit"] for r in results}


def test_a_failing_pull_request_is_reported_failed_and_stays_open(gate, tmp_path):
    g, forge = gate
    number = forge.open_pull(PROJECT, {"FAIL-x": "1\n"}, "Break it", labels=["gate"])
    tip = forge.tip(PROJECT)
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    try:
        [comment] = wait_until(lambda: forge.comments[(PROJECT, number)],
                               "the failure's comment", timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; gateq serve's log:\n{serve.stderr()[-5000:]}") from None
    finally:
        assert serve.stop() == 0, serve.stderr()
    assert comment.startswith("Build failed (merge pipeline).")
    assert "- check: failure in" in comment
    head = forge.head(PROJECT, number)
    assert [s["state"] for s in forge.statuses[(PROJECT, head)]] == [
        "pending", "failed" if forge.flavour == "gitlab" else "failure"]
    assert (forge.state(PROJECT, number), forge.tip(PROJECT)) == ("open", tip)   # nothing landed


def test_a_pull_request_lands_after_the_one_its_depends_on_names(gate, tmp_path):
    g, forge = gate
    # The needing one is older: without its Depends-On it would be first in line.
    needing = forge.open_pull(PROJECT, {"app.txt": "1\n"}, "Use the library", labels=["gate"],
                              body=f"Depends-On: {forge.web_url(PROJECT, 2)}\n")
    needed = forge.open_pull(PROJECT, {"lib.txt": "1\n"}, "Add the library", labels=["gate"])
    assert (needing, needed) == (1, 2)
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    try:
        results = wait_until(lambda: len(merged(g)) == 2 and merged(g), "both results", timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; gateq serve's log:\n{serve.stderr()[-5000:]}") from None
    finally:
        assert serve.stop() == 0, serve.stderr()
    assert set(results) == {forge.head_ref(n) for n in (needed, needing)}
    first, second = (results[forge.head_ref(n)] for n in (needed, needing))
    assert (first["result"], second["result"]) == ("merged", "merged")
    assert forge.tip(PROJECT) == second["commit"]             # the needing one landed last
    assert all(forge.state(PROJECT, n) == "merged" for n in (needed, needing))
