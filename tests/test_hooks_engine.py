"""`gateq hook ...` from the command line, while no engine runs: Gerrit's
hook scripts and a git post-receive hook journal what they are told into
the state database, each call in well under a second, and the engine,
started later, acts on it."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from gerrit.fixtures import gerrit, gerrit_site, session_keys  # noqa: F401
from gerrit.gate import GerritGate, unique

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hook(gate: GerritGate, *words: str) -> tuple[float, subprocess.CompletedProcess]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gateq.cli", "-c", gate.config, "hook", *words],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)
    return time.monotonic() - began, done


def test_gerrit_hooks_record_events_while_no_engine_runs(gerrit, tmp_path):
    nova = unique("nova")
    gate = GerritGate(tmp_path, gerrit, [nova])
    with gate.serving():
        change = gate.upload(nova, {"a.txt": "1\n"}, "Add a")
        gate.wait_result(change, "check")
    gate.comment(change, "recheck")            # the stream tells no one: no engine runs
    url = gate.url(nova, change)
    before = gate.status()["intake"]["pending"]   # what the stream gave as the engine stopped
    took, done = hook(gate, "gerrit", "comment-added", "--change", f"{nova}~main~{change.change_id}",
                      "--change-url", url, "--project", nova, "--branch", "main",
                      "--author", "Alice (alice@example.org)", "--author-username", "alice",
                      "--commit", change.revision, "--comment", "Patch Set 1:\n\nrecheck")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert took < 2.0                            # a Python start, imports, one insert
    assert gate.status()["intake"]["pending"] == before + 1, gate.status()["intake"]
    with gate.serving():
        gate.wait_result(change, "check", count=2)
        gate.wait(lambda: gate.status()["intake"]["pending"] == 0, "the row taken up")
    assert [r["result"] for r in gate.result(change, "check")] == ["succeeded", "succeeded"]


def test_a_bad_hook_call_is_one_line_and_records_nothing(gerrit, tmp_path):
    gate = GerritGate(tmp_path, gerrit, [unique("nova")])
    _, done = hook(gate, "gerrit", "comment-added", "--project")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("gateq hook: gerrit ")
    assert gate.status().get("intake", {}).get("pending", 0) == 0


def test_a_push_for_review_through_the_installed_hook_is_gated_by_a_later_engine(gerrit, tmp_path):
    distgit = unique("distgit")
    gate = GerritGate(tmp_path, gerrit, [], git_projects=[distgit])
    said = gate.ok("hook", "install", "--connection", "distgit", "--project", distgit)
    assert said.startswith(f"installed {gate.bare(distgit)}/hooks/post-receive: ")
    work = os.path.join(gate.root, "work", distgit)
    revision = gate.git_commit(distgit, {"spec": "1\n"}, "Package it")
    began = time.monotonic()
    pushed = subprocess.run(["git", "push", "-o", "gateq.approve", "origin", "HEAD:refs/for/main"],
                            cwd=work, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - began
    assert pushed.returncode == 0, pushed.stderr
    assert "gateq" in pushed.stderr and took < 5
    gate.start()
    try:
        [result] = gate.wait(lambda: [r for r in gate.results("gate") if r["project"] == distgit],
                             "the pushed change gated")
    finally:
        assert gate.stop() == 0
    assert result["result"] == "merged" and result["revision"] == revision
    assert gate.git_tip(distgit) == result["commit"]
