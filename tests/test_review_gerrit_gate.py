"""The engine driven by code review: `gateq serve` on a Gerrit stand-in
over real SSH and real git. Reviewers vote; gateq tests, votes Verified,
lands by push what it tested, and says what it did on the change."""
from __future__ import annotations

import re

from gerrit.fixtures import gerrit, gerrit_site, session_keys  # noqa: F401
from gerrit.gate import GerritGate, unique
from gate_fixture import wait_until


def test_approved_change_is_gated_landed_by_push_and_reported(gerrit, tmp_path):
    nova = unique("nova")
    gate = GerritGate(tmp_path, gerrit, [nova])
    with gate.serving():
        change = gate.upload(nova, {"a.txt": "1\n"}, "Add a")
        gate.approve(change, {"Code-Review": 2})
        gate.approve(change, {"Workflow": 1})
        [result] = gate.wait_result(change, "gate")
        assert result["result"] == "merged"
        shown = wait_until(lambda: gate.standin.change(change.number)["status"] == "MERGED"
                           and gate.standin.change(change.number), "the change merged")
        assert gate.standin.branch_tip(nova) == result["commit"]     # the tested commit, pushed
        report = gate.wait_review(change, "gate")
    assert report["labels"] == {"Verified": 2}
    message = report["message"]
    assert message.startswith("Build succeeded, merged (gate pipeline).")
    log = re.search(r"^- check: success in \d+s, log: (\S+)$", message, re.M)
    assert log and log.group(1).endswith("/logs/2-0-check.log"), message
    assert f"Landed as {result['commit']} on main." in message
    approvals = {a["type"]: a["value"] for a in shown["currentPatchSet"].get("approvals", [])}
    assert approvals.get("Verified") == "2"
    env = gate.builds_env()[-1]
    assert env["GATEQ_CHANGE"] == f"refs/changes/{change.number % 100:02d}/{change.number}/1"
    assert env["GATEQ_CHANGE_NUMBER"] == str(change.number)
    assert env["GATEQ_PATCHSET"] == "1"
    assert env["GATEQ_CHANGE_URL"] == shown["url"]          # as Gerrit names its page
    assert shown["url"].endswith(f"/c/{nova}/+/{change.number}")
