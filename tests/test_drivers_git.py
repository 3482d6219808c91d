"""The git driver behind the driver interface, on real repositories: a ref
pinned as `gateq event` pins it, a change's information, landing as a
compare-and-swap; and the driver-neutral records and registry."""
from __future__ import annotations

import os
import subprocess

import pytest
from voluptuous import MultipleInvalid, Schema

from gateq.drivers.base import AlreadyOnBranch, DriverError, NotFound
from gateq.drivers.depends_on import GerritChange, GitRef
from gateq.drivers.git.connection import GitDriverConnection
from gateq.drivers.git.proposals import store
from gateq.drivers.records import (ChangeRef, ChangeState, LandOutcome, LandRequest, LinkState,
                                   Origin, RefMove, Report, ReviewEvent, ReviewEventKind, Vote)
from gateq.drivers.registry import build_connections, connection_schema

ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
       "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
WEB = {"review": "https://review.example.org"}


def git(cwd, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **ENV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class Repo:
    """A bare repository ROOT/nova.git and commits written straight into it."""

    def __init__(self, root):
        self.root = str(root)
        self.path = os.path.join(self.root, "nova.git")
        git(self.root, "init", "--quiet", "--bare", "--initial-branch=main", self.path)
        self.main = self.commit([], "Initial commit\n", {"README": "nova\n"})
        self.move("refs/heads/main", self.main)

    def commit(self, parents: list[str], message: str, files: dict[str, str]) -> str:
        env = {**os.environ, **ENV, "GIT_INDEX_FILE": os.path.join(self.root, "index")}
        if parents:
            subprocess.run(["git", "-C", self.path, "read-tree", parents[0]], env=env, check=True)
        for name, content in files.items():
            blob = subprocess.run(["git", "-C", self.path, "hash-object", "-w", "--stdin"],
                                  input=content, text=True, capture_output=True,
                                  env=env).stdout.strip()
            subprocess.run(["git", "-C", self.path, "update-index", "--add", "--cacheinfo",
                            f"100644,{blob},{name}"], env=env, check=True)
        tree = subprocess.run(["git", "-C", self.path, "write-tree"], env=env,
                              capture_output=True, text=True).stdout.strip()
        os.unlink(env["GIT_INDEX_FILE"])
        return git(self.path, "commit-tree", tree, *[w for p in parents for w in ("-p", p)],
                   "-m", message)

    def move(self, ref: str, commit: str) -> None:
        git(self.path, "update-ref", ref, commit)

    def tip(self, branch: str = "main") -> str | None:
        proc = subprocess.run(["git", "-C", self.path, "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], capture_output=True, text=True)
        return proc.stdout.strip() or None


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path)


@pytest.fixture
def conn(repo):
    return GitDriverConnection("local", repo.root, WEB)


def test_a_ref_is_pinned_as_gateq_event_pins_it(repo, conn):
    fix = repo.commit([repo.main], "Fix\n", {"a": "1"})
    repo.move("refs/heads/fix-1", fix)
    pinned = conn.pin("nova", ChangeRef("fix-1"), "main")
    assert (pinned.ref, pinned.revision, pinned.commits) == ("fix-1", fix, frozenset({fix}))
    later = repo.commit([fix], "Later\n", {"b": "1"})
    repo.move("refs/heads/fix-1", later)
    kept = conn.pin("nova", ChangeRef("fix-1", fix), "main")    # the revision heard is tested
    assert kept.revision == fix
    assert conn.repo_path("nova") == repo.path


def test_pinning_what_is_already_on_the_branch_or_missing_is_one_line(repo, conn):
    with pytest.raises(AlreadyOnBranch) as exc:
        conn.pin("nova", ChangeRef("main"), "main")
    assert "already on branch main: there is nothing to test or land" in str(exc.value)
    with pytest.raises(NotFound, match="no ref nope"):
        conn.pin("nova", ChangeRef("nope"), "main")
    with pytest.raises(NotFound, match="no branch stable"):
        conn.pin("nova", ChangeRef("fix", repo.main), "stable")


def test_prepare_pins_a_hook_event_named_by_its_ref(repo, conn):
    fix = repo.commit([repo.main], "Fix\n", {"a": "1"})
    repo.move("refs/heads/fix-1", fix)
    event = ReviewEvent("local", ReviewEventKind.APPROVED, "nova", "main", ChangeRef("fix-1"))
    assert conn.prepare(event).change.revision == fix
    gone = ReviewEvent("local", ReviewEventKind.APPROVED, "nova", "main", ChangeRef("gone"))
    with pytest.raises(NotFound):
        conn.prepare(gone)


def test_change_info_reads_depends_on_and_parents(repo, conn):
    base = repo.commit([repo.main], "Base\n", {"a": "1"})
    first = store(repo.path, base)                            # change 1, patch set 1
    message = ("Top\n\nDepends-On: https://review.example.org/c/nova-specs/+/42\n"
               "Depends-On: keystone:fix-2\nDepends-On: nonsense\n")
    top = repo.commit([base], message, {"b": "1"})
    repo.move("refs/heads/top", top)
    info = conn.change_info("nova", ChangeRef("top"), "main")
    assert (info.state, info.change.revision, info.subject) == (ChangeState.OPEN, top, "Top")
    assert info.depends_on.references == (GerritChange("review", 42, "nova-specs"),
                                          GitRef("keystone", "fix-2"))
    assert [u.value for u in info.depends_on.unrecognised] == ["nonsense"]
    assert [(p.number, p.patchset, p.revision) for p in info.parents] == [(1, 1, base)]
    assert info.stale_parents == ()
    store(repo.path, repo.commit([repo.main], "Base v2\n", {"a": "2"}), first.number)
    assert conn.change_info("nova", ChangeRef("top"), "main").stale_parents == (1,)


def test_change_info_says_merged_or_abandoned(repo, conn):
    fix = repo.commit([repo.main], "Fix\n", {"a": "1"})
    repo.move("refs/heads/fix-1", fix)
    repo.move("refs/heads/main", fix)
    assert conn.change_info("nova", ChangeRef("fix-1"), "main").state is ChangeState.MERGED
    git(repo.path, "update-ref", "-d", "refs/heads/fix-1")
    assert conn.change_info("nova", ChangeRef("fix-1", fix), "main").state is ChangeState.ABANDONED
    with pytest.raises(DriverError, match="needs the branch"):
        conn.change_info("nova", ChangeRef("fix-1"))


def test_land_is_a_compare_and_swap(repo, conn):
    fix = repo.commit([repo.main], "Fix\n", {"a": "1"})
    request = LandRequest("nova", "main", repo.main, fix)
    assert conn.land(request).outcome is LandOutcome.LANDED and repo.tip() == fix
    assert conn.land(request).outcome is LandOutcome.LANDED        # a retry after a crash
    other = repo.commit([fix], "Other\n", {"b": "1"})
    repo.move("refs/heads/main", other)
    moved = conn.land(LandRequest("nova", "main", fix, repo.commit([fix], "Late\n", {"c": "1"})))
    assert (moved.outcome, moved.commit) == (LandOutcome.MOVED, other)
    assert "moved from" in moved.reason and repo.tip() == other
    git(repo.path, "update-ref", "-d", "refs/heads/main")
    deleted = conn.land(LandRequest("nova", "main", other, fix))
    assert (deleted.outcome, deleted.commit) == (LandOutcome.DELETED, None)
    assert "deleted outside gateq" in deleted.reason


def test_a_local_connection_is_always_up_and_has_nothing_to_reconcile(conn):
    conn.start(lambda event: None)
    assert conn.status().state is LinkState.LOCAL and conn.reporter is None
    assert conn.reconcile([]).events == ()
    assert conn.branch_tips("nova", ["main", "nope"]).keys() == {"main"}


def test_records_survive_their_json_form():
    event = ReviewEvent("review", ReviewEventKind.COMMENT, "nova", "main",
                        ChangeRef("refs/changes/34/1234/2", "a" * 40, 1234, 2, "https://r/1234"),
                        (Vote("Code-Review", 2, 0, "alice"), Vote("Workflow", 1)), "recheck",
                        ChangeState.OPEN, False, "alice", RefMove("refs/heads/main", None, "b" * 40),
                        12.5, Origin.RECONCILED, "gate")
    assert ReviewEvent.from_dict(event.as_dict()) == event
    report = Report("r1", "review", "nova", event.change, "gate", "Build succeeded.",
                    (("Verified", 2),), submit=True)
    assert Report.from_dict(report.as_dict()) == report and report.tag == "autogenerated:gateq:gate"
    with pytest.raises(ValueError, match="unknown field"):
        ReviewEvent.from_dict({**event.as_dict(), "colour": "red"})


def test_the_registry_checks_each_connection_with_its_drivers_schema(tmp_path):
    check = Schema(connection_schema(str(tmp_path)))
    assert check({"driver": "git", "root": "."}) == {"driver": "git", "root": str(tmp_path)}
    for bad, says in (({"driver": "svn"}, "unknown driver 'svn' (one of git, gerrit, gitea, github, gitlab)"),
                      ({"root": "."}, "missing required attribute 'driver'"),
                      ({"driver": "git", "root": "nope"}, "directory 'nope' does not exist")):
        with pytest.raises(MultipleInvalid) as exc:
            check(bad)
        assert says in str(exc.value)


def test_the_registry_builds_the_connections(tmp_path, repo):
    built = build_connections({"local": {"driver": "git", "root": repo.root}}, str(tmp_path))
    assert isinstance(built["local"], GitDriverConnection)
    assert built["local"].repo_path("nova") == repo.path
