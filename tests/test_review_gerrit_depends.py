"""Depends-On through the engine: across two Gerrit projects, across the
git and gerrit connections, a change whose needed change does not meet the
requirements (not enqueued, said why), and a cycle landed together."""
from __future__ import annotations

from gerrit.fixtures import gerrit, gerrit_site, session_keys  # noqa: F401
from gerrit.gate import GerritGate, unique

CYCLES = "- queue: {name: shared, allow-circular-dependencies: true}\n"


def test_a_change_needing_another_project_s_change_lands_after_it(gerrit, tmp_path):
    nova, lib = unique("nova"), unique("lib")
    gate = GerritGate(tmp_path, gerrit, [nova, lib])
    hold = gate.hold_builds()
    with gate.serving():
        needed = gate.upload(lib, {"lib.txt": "1\n"}, "Lib support")
        needing = gate.upload(nova, {"use.txt": "1\n"}, "Use lib",
                              body=f"Depends-On: {gate.url(lib, needed)}")
        gate.approve(needed, {"Code-Review": 2})       # meets the gate's requirements
        gate.approve(needing)                           # enqueued behind what it needs
        gate.wait(lambda: gate.queued("gate") == [f"{lib}:{needed.ref}", f"{nova}:{needing.ref}"],
                  "both in the gate, the needed change ahead")
        hold.release()
        [first] = gate.wait_result(needed, "gate")
        [second] = gate.wait_result(needing, "gate")
    assert (first["result"], second["result"]) == ("merged", "merged")
    assert first["finished_at"] <= second["finished_at"]
    assert gerrit.standin.change(needed.number)["status"] == "MERGED"
    assert gerrit.standin.change(needing.number)["status"] == "MERGED"


def test_a_needed_change_without_its_votes_keeps_the_change_out_and_says_why(gerrit, tmp_path):
    nova, lib = unique("nova"), unique("lib")
    gate = GerritGate(tmp_path, gerrit, [nova, lib])
    with gate.serving():
        needed = gate.upload(lib, {"lib.txt": "1\n"}, "Lib support")
        needing = gate.upload(nova, {"use.txt": "1\n"}, "Use lib",
                              body=f"Depends-On: {gate.url(lib, needed)}")
        gate.approve(needing)
        [result] = gate.wait_result(needing, "gate")
        report = gate.wait_review(needing, "gate")
    assert result["result"] == "not-enqueued"
    assert f"{lib}:{needed.ref}" in result["reason"] and "Code-Review+2" in result["reason"], \
        result["reason"]
    assert result["reason"] in report["message"]
    assert gerrit.standin.change(needing.number)["status"] == "NEW"


def test_depends_on_across_the_git_and_gerrit_connections(gerrit, tmp_path):
    nova, distgit = unique("nova"), unique("distgit")
    gate = GerritGate(tmp_path, gerrit, [nova], git_projects=[distgit])
    hold = gate.hold_builds()
    with gate.serving():
        needed = gate.upload(nova, {"nova.txt": "1\n"}, "Nova support")
        gate.git_change(distgit, "spec-1", {"nova.spec": "1\n"},
                        f"Package it\n\nDepends-On: {gate.url(nova, needed)}\n")
        gate.approve(needed)
        gate.wait(lambda: gate.queued("gate") == [f"{nova}:{needed.ref}"], "the nova change gated")
        gate.ok("event", "approved", "--project", distgit, "--change", "spec-1")
        gate.wait(lambda: gate.queued("gate") == [f"{nova}:{needed.ref}",
                                                  f"{distgit}:spec-1"],
                  "the distgit change behind it")
        hold.release()
        [nova_result] = gate.wait_result(needed, "gate")
        [git_result] = gate.wait(lambda: [r for r in gate.results("gate")
                                          if r["project"] == distgit], "the distgit result")
    assert (nova_result["result"], git_result["result"]) == ("merged", "merged")
    assert gerrit.standin.change(needed.number)["status"] == "MERGED"
    assert gate.git_tip(distgit) == git_result["commit"]


def test_a_cycle_across_two_projects_is_one_item_landed_together(gerrit, tmp_path):
    nova, lib = unique("nova"), unique("lib")
    gate = GerritGate(tmp_path, gerrit, [nova, lib], queue=CYCLES)
    with gate.serving():
        one = gate.upload(nova, {"nova.txt": "1\n"}, "Nova half")
        two = gate.upload(lib, {"lib.txt": "1\n"}, "Lib half",
                          body=f"Depends-On: {gate.url(nova, one)}")
        one = gate.upload(nova, {"nova.txt": "2\n"}, "Nova half", change_id=one.change_id,
                          body=f"Depends-On: {gate.url(lib, two)}")
        gate.approve(two, {"Code-Review": 2})           # meets the requirements, not triggered
        gate.approve(one)                                # brings its cycle in, as one item
        [a] = gate.wait_result(one, "gate")
        [b] = gate.wait_result(two, "gate")
        ra, rb = gate.wait_review(one, "gate"), gate.wait_review(two, "gate")
    assert (a["result"], b["result"]) == ("merged", "merged")
    assert a["batch"] == [f"{lib}:{two.ref}"] and b["batch"] == [f"{nova}:{one.ref}"]
    assert [j["build"] for j in a["jobs"]] == [j["build"] for j in b["jobs"]]   # tested together
    assert a["finished_at"] == b["finished_at"]                                   # landed together
    assert gerrit.standin.change(one.number)["status"] == "MERGED"
    assert gerrit.standin.change(two.number)["status"] == "MERGED"
    assert ra["labels"] == rb["labels"] == {"Verified": 2}
    env = [e for e in gate.builds_env() if e["GATEQ_PIPELINE"] == "gate"]
    assert all(f"{nova}:{one.ref}" in e["GATEQ_ITEM_CHANGES"]
               and f"{lib}:{two.ref}" in e["GATEQ_ITEM_CHANGES"] for e in env), env
