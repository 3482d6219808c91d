"""Merges that fail, end to end: real git, real job processes, the CLI.

A conflict is final only against the branch itself: an item whose merge onto
the items ahead conflicts is held (failing, no jobs) until it reaches the
head; if an item ahead fails and leaves, it is merged again without it.
A change whose commit or target branch is gone is no conflict: it is
reported as such at once, wherever it is in the queue.
"""
from gate_fixture import Gate, git


def result_of(g: Gate, ref: str) -> dict:
    return next(r for r in g.results() if r["change"] == ref)


def test_a_change_that_conflicts_only_with_a_bad_change_lands(tmp_path):
    """Two people fix the same bug; the first fix is bad."""
    g = Gate(tmp_path)
    g.change("nova", "a", {"README": "fix one\n", "FAIL": "1", "SLEEP": "1"})
    g.change("nova", "b", {"README": "fix two\n"})
    g.approve("nova", "a")
    g.approve("nova", "b")
    g.run()
    assert g.outcome() == {"a": "failed", "b": "merged"}
    assert g.landed() == ["b"]
    assert git("show", "main:README", cwd=g.bare("nova")) == "fix two"
    assert g.seen_chains("b") == ["nova:b"]          # b ran only once a had left
    assert [r["change"] for r in g.results()] == ["a", "b"]


def test_a_conflict_with_a_good_change_ahead_is_ejected_once_that_change_lands(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"README": "one\n", "SLEEP": "1"})
    g.change("nova", "b", {"README": "two\n"})
    g.change("nova", "c")
    for ref in "abc":
        g.approve("nova", ref)
    g.run()
    b = result_of(g, "b")
    assert b["result"] == "merge-conflict" and "README" in b["reason"]
    assert [(j["name"], j["result"], j["build"]) for j in b["jobs"]] == [("check", "skipped", None)]
    assert g.seen_chains("b") == []
    assert g.landed() == ["a", "c"]
    assert [r["change"] for r in g.results()] == ["a", "b", "c"]    # b reported at the head


def test_a_conflict_against_the_branch_itself_is_ejected(tmp_path):
    g = Gate(tmp_path)
    old_main = g.tip()
    g.commit("nova", {"README": "moved on\n"}, "Direct push")
    git("push", "-q", "origin", "main", cwd=g.work("nova"))
    g.change("nova", "stale", {"README": "stale edit\n"}, base=old_main)
    g.change("nova", "fine")
    g.approve("nova", "stale")
    g.approve("nova", "fine")
    g.run()
    stale = result_of(g, "stale")
    assert stale["result"] == "merge-conflict" and "README" in stale["reason"]
    assert g.seen_chains("stale") == []
    assert g.landed() == ["fine"]


def test_a_change_whose_commit_is_gone_is_reported_missing_at_once(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"a.txt": "a\n", "SLEEP": "1"})
    g.change("nova", "gone")
    g.change("nova", "c")
    for ref in ("a", "gone", "c"):
        g.approve("nova", ref)
    git("update-ref", "-d", "refs/heads/gone", cwd=g.bare("nova"))   # force-pushed away and pruned
    git("reflog", "expire", "--expire=now", "--all", cwd=g.bare("nova"))
    git("gc", "-q", "--prune=now", cwd=g.bare("nova"))
    g.run()
    gone = result_of(g, "gone")
    assert gone["result"] == "change-missing" and "is gone from the repository" in gone["reason"]
    assert [r["change"] for r in g.results()] == ["gone", "a", "c"]   # not held until the head
    assert g.landed() == ["a", "c"]


def test_a_change_whose_branch_was_deleted_is_reported_missing(tmp_path):
    g = Gate(tmp_path)
    git("branch", "stable", "main", cwd=g.bare("nova"))
    g.change("nova", "backport", base="origin/main")
    g.ok("event", "approved", "--project", "nova", "--change", "backport", "--branch", "stable")
    git("branch", "-D", "stable", cwd=g.bare("nova"))
    g.run()
    backport = result_of(g, "backport")
    assert backport["result"] == "branch-missing" and "stable" in backport["reason"]
    assert g.seen_chains("backport") == []
