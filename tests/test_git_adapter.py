"""Scenarios for the git adapter against real repositories.

Each test gets a fresh "server" of bare repositories (ROOT/<project>.git)
plus work clones used only to author commits, the way a developer pushes.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from gateq.config.model import GitConnection, MergeMode
from gateq.core.actions import PrepareMerge
from gateq.core.types import state_dict
from gateq.git.changes import resolve_change
from gateq.git.land import land
from gateq.git.merger import BranchMissing, ChangeMissing, MergeConflict, Merger
from gateq.git.repo import GitError
from gateq.git.workspace import prepare_workspace

DEV = {"GIT_AUTHOR_NAME": "Dev One", "GIT_AUTHOR_EMAIL": "dev@example.org",
       "GIT_COMMITTER_NAME": "Dev One", "GIT_COMMITTER_EMAIL": "dev@example.org",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def sh(cwd, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **DEV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class Server:
    """Bare project repositories plus a work clone per project for authoring."""

    def __init__(self, root):
        self.conn = GitConnection("local", str(root / "server"))
        self.work = root / "work"

    def repo_path(self, project: str) -> str:
        return self.conn.repo_path(project)

    def add_project(self, name: str, files: dict[str, str]) -> str:
        bare = os.path.join(self.conn.root, name + ".git")
        os.makedirs(bare)
        sh(bare, "init", "--quiet", "--bare", "--initial-branch=main")
        sh(self.work.parent, "clone", "--quiet", bare, str(self.work / name))
        return self.commit(name, "main", files, "Initial commit", start=None)

    def commit(self, project: str, branch: str, files: dict[str, str], message: str,
               start: str | None = "origin/main", author: str | None = None) -> str:
        """Commit `files` on `branch` (created from `start`) and push it."""
        work = self.work / project
        if start is not None:
            sh(work, "fetch", "--quiet", "origin")
            sh(work, "checkout", "--quiet", "-B", branch, start)
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        sh(work, "add", "--all")
        extra = ["--author", author] if author else []
        sh(work, "commit", "--quiet", "-m", message, *extra)
        sh(work, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return sh(work, "rev-parse", "HEAD")

    def git(self, project: str, *args: str) -> str:
        return sh(self.repo_path(project), *args)

    def tip(self, project: str, branch: str = "main") -> str:
        return self.git(project, "rev-parse", f"refs/heads/{branch}")

    def show(self, project: str, commit: str, path: str) -> str:
        return self.git(project, "show", f"{commit}:{path}")

    def parents(self, project: str, commit: str) -> list[str]:
        return self.git(project, "rev-list", "--parents", "-1", commit).split()[1:]


README = "line one\nline two\nline three\n"


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    srv.add_project("nova", {"README.md": README})
    return srv


def prepare(server, change, mode=MergeMode.MERGE, base=(), need=(), item=1):
    action = PrepareMerge(item=item, generation=0, change=change, mode=mode,
                          base=base, need=need or ((change.project, change.branch),))
    return Merger(server.repo_path).merge(action)


def change_for(server, project, ref, branch="main"):
    return resolve_change(server.repo_path(project), project, ref, branch)


# --- resolve_change -------------------------------------------------------

def test_resolve_change_short_and_full_refs(server):
    first = server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    second = server.commit("nova", "fix-1", {"b.txt": "b\n"}, "Add b", start=None)
    short = change_for(server, "nova", "fix-1")
    full = change_for(server, "nova", "refs/heads/fix-1")
    assert short.revision == full.revision == second
    assert short.commits == full.commits == {first, second}
    assert short.name == "nova:fix-1"
    assert full.ref == "refs/heads/fix-1"


def test_resolve_change_review_style_ref(server):
    rev = server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    server.git("nova", "update-ref", "refs/changes/01/1/1", rev)
    change = change_for(server, "nova", "refs/changes/01/1/1")
    assert change.revision == rev and change.commits == {rev}


def test_resolve_change_missing_ref_or_branch(server):
    with pytest.raises(GitError, match="^project nova: no ref fix-9$"):
        change_for(server, "nova", "fix-9")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    with pytest.raises(GitError, match="^project nova: no branch stable$"):
        change_for(server, "nova", "fix-1", branch="stable")


# --- merge modes ----------------------------------------------------------

def test_merge_mode_makes_a_merge_commit(server):
    rev = server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    server.commit("nova", "main", {"README.md": README + "line four\n"}, "Grow readme")
    tip = server.tip("nova")
    state, base_commit = prepare(server, change_for(server, "nova", "fix-1"))
    merged = state_dict(state)[("nova", "main")]
    assert base_commit == tip
    assert server.parents("nova", merged) == [tip, rev]
    assert server.show("nova", merged, "a.txt") == "a"
    assert server.show("nova", merged, "README.md").endswith("line four")
    assert server.git("nova", "log", "-1", "--format=%s|%cn", merged) == \
        "Merge nova:fix-1 into main|gateq"
    assert server.tip("nova") == tip, "merging must not move the branch"


def test_squash_mode_makes_one_commit_with_the_authors_name(server):
    tip = server.tip("nova")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    server.commit("nova", "fix-1", {"b.txt": "b\n"}, "Add b\n\nDetails.", start=None,
                  author="Ann Author <ann@example.org>")
    state, _ = prepare(server, change_for(server, "nova", "fix-1"), MergeMode.SQUASH)
    squashed = state_dict(state)[("nova", "main")]
    assert server.parents("nova", squashed) == [tip]
    assert server.show("nova", squashed, "a.txt") == "a"
    assert server.show("nova", squashed, "b.txt") == "b"
    assert server.git("nova", "log", "-1", "--format=%B", squashed) == \
        "Add b\n\nSquashed nova:fix-1"
    assert server.git("nova", "log", "-1", "--format=%an <%ae>", squashed) == \
        "Ann Author <ann@example.org>"


def test_rebase_mode_replays_commits_keeping_authors(server):
    old_tip = server.tip("nova")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a",
                  author="Ann Author <ann@example.org>")
    second = server.commit("nova", "fix-1", {"a.txt": "a\nA\n"}, "Grow a", start=None)
    server.commit("nova", "main", {"README.md": "new first line\n" + README[9:]},
                  "Reword readme", start="origin/main")
    tip = server.tip("nova")
    state, _ = prepare(server, change_for(server, "nova", "fix-1"), MergeMode.REBASE)
    head = state_dict(state)[("nova", "main")]
    log = server.git("nova", "log", "--format=%s|%an", f"{old_tip}..{head}").splitlines()
    assert log == ["Grow a|Dev One", "Add a|Ann Author", "Reword readme|Dev One"]
    assert server.parents("nova", server.parents("nova", head)[0]) == [tip]
    assert head != second
    assert server.show("nova", head, "a.txt") == "a\nA"
    assert server.show("nova", head, "README.md").startswith("new first line")
    assert server.git("nova", "log", "-1", "--format=%ad", "--date=raw", head) == \
        server.git("nova", "log", "-1", "--format=%ad", "--date=raw", second)


def test_rebase_of_a_change_already_on_the_tip_keeps_its_commits(server):
    rev = server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    state, _ = prepare(server, change_for(server, "nova", "fix-1"), MergeMode.REBASE)
    assert state_dict(state)[("nova", "main")] == rev


def test_rebase_refuses_merge_commits(server):
    server.commit("nova", "side", {"s.txt": "s\n"}, "Side")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    work = server.work / "nova"
    sh(work, "merge", "--quiet", "--no-ff", "-m", "Merge side", "origin/side")
    sh(work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/fix-1")
    server.commit("nova", "main", {"m.txt": "m\n"}, "Move main")
    with pytest.raises(MergeConflict, match="rebase of merge commits not supported"):
        prepare(server, change_for(server, "nova", "fix-1"), MergeMode.REBASE)


# --- conflicts and special cases ------------------------------------------

@pytest.mark.parametrize("mode", list(MergeMode))
def test_conflict_names_the_file(server, mode):
    server.commit("nova", "fix-1", {"README.md": "mine\n" + README[9:]}, "Mine")
    server.commit("nova", "main", {"README.md": "theirs\n" + README[9:]}, "Theirs")
    with pytest.raises(MergeConflict) as err:
        prepare(server, change_for(server, "nova", "fix-1"), mode)
    assert err.value.reason == "merge conflict in nova: README.md"


@pytest.mark.parametrize("mode", list(MergeMode))
def test_already_merged_change_leaves_the_base(server, mode):
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    change = change_for(server, "nova", "fix-1")
    server.git("nova", "update-ref", "refs/heads/main", change.revision)
    state, base_commit = prepare(server, change, mode)
    assert state_dict(state)[("nova", "main")] == base_commit == change.revision


def test_change_whose_content_is_already_there_still_gets_merged(server):
    rev = server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    tip = server.commit("nova", "main", {"a.txt": "a\n"}, "Add a again, by hand")
    state, _ = prepare(server, change_for(server, "nova", "fix-1"))
    merged = state_dict(state)[("nova", "main")]
    assert server.parents("nova", merged) == [tip, rev]


def test_unrelated_history_is_a_merge_failure(server):
    work = server.work / "nova"
    sh(work, "checkout", "--quiet", "--orphan", "stray")
    server.commit("nova", "stray", {"z.txt": "z\n"}, "Stray root", start=None)
    with pytest.raises(MergeConflict, match="^merge conflict in nova: no common history$"):
        prepare(server, change_for(server, "nova", "stray"))


def test_missing_target_branch_is_not_a_conflict(server):
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    change = change_for(server, "nova", "fix-1")
    server.git("nova", "branch", "-D", "main")
    with pytest.raises(BranchMissing, match="^project nova: branch main does not exist"):
        prepare(server, change)


def test_a_vanished_change_commit_is_not_a_conflict(server):
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    change = change_for(server, "nova", "fix-1")
    server.git("nova", "update-ref", "-d", "refs/heads/fix-1")
    server.git("nova", "reflog", "expire", "--expire=now", "--all")
    server.git("nova", "gc", "-q", "--prune=now")
    with pytest.raises(ChangeMissing, match=f"^project nova: commit {change.revision[:12]} of "
                                            "fix-1 is gone from the repository$"):
        prepare(server, change)


# --- queues ---------------------------------------------------------------

def test_chained_items_build_on_the_item_ahead(server):
    tip = server.tip("nova")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    server.commit("nova", "fix-2", {"b.txt": "b\n"}, "Add b")
    state1, base1 = prepare(server, change_for(server, "nova", "fix-1"), item=1)
    state2, base2 = prepare(server, change_for(server, "nova", "fix-2"),
                            base=state1, item=2)
    item1, item2 = state_dict(state1)[("nova", "main")], state_dict(state2)[("nova", "main")]
    assert base1 == tip and base2 == item1
    assert server.parents("nova", item2)[0] == item1
    assert server.show("nova", item2, "a.txt") == "a"
    assert server.show("nova", item2, "b.txt") == "b"
    assert "b.txt" not in server.git("nova", "ls-tree", "--name-only", item1)


def test_shared_queue_state_covers_every_project(server):
    server.add_project("glance", {"g.txt": "g\n"})
    server.commit("glance", "stable", {"g.txt": "g stable\n"}, "Stable")
    glance_main, glance_stable = server.tip("glance"), server.tip("glance", "stable")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    need = (("glance", "main"), ("glance", "stable"), ("glance", "gone"), ("nova", "main"))
    state, _ = prepare(server, change_for(server, "nova", "fix-1"), need=need)
    keys = [(p, b) for p, b, _ in state]
    assert keys == [("glance", "main"), ("glance", "stable"), ("nova", "main")]
    assert state_dict(state)[("glance", "main")] == glance_main
    assert state_dict(state)[("glance", "stable")] == glance_stable

    # The next item, in glance, keeps nova's speculative commit from its base.
    server.commit("glance", "fix-g", {"h.txt": "h\n"}, "Add h")
    state2, base2 = prepare(server, change_for(server, "glance", "fix-g"),
                            base=state, need=need, item=2)
    assert base2 == glance_main
    assert state_dict(state2)[("nova", "main")] == state_dict(state)[("nova", "main")]
    assert server.show("glance", state_dict(state2)[("glance", "main")], "h.txt") == "h"


# --- workspace ------------------------------------------------------------

def test_workspace_checks_out_the_state_with_history(server, tmp_path):
    server.add_project("glance", {"g.txt": "g\n"})
    server.commit("glance", "stable", {"g.txt": "g stable\n"}, "Stable")
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    need = (("glance", "main"), ("glance", "stable"), ("nova", "main"))
    state, _ = prepare(server, change_for(server, "nova", "fix-1"), need=need)
    paths = prepare_workspace(str(tmp_path / "build1"), state, server.repo_path,
                              branch_for={"glance": "stable", "nova": "main"})
    nova, glance = paths["nova"], paths["glance"]
    assert nova == str(tmp_path / "build1" / "src" / "nova")
    assert open(os.path.join(nova, "a.txt")).read() == "a\n"
    assert open(os.path.join(glance, "g.txt")).read() == "g stable\n"
    assert sh(nova, "rev-parse", "HEAD") == state_dict(state)[("nova", "main")]
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=nova).returncode == 1
    assert sh(nova, "log", "--topo-order", "--format=%s").splitlines() == \
        ["Merge nova:fix-1 into main", "Add a", "Initial commit"]
    assert sh(nova, "status", "--porcelain") == ""


def test_workspace_needs_a_branch_choice_for_ambiguous_projects(server, tmp_path):
    server.commit("nova", "stable", {"s.txt": "s\n"}, "Stable")
    state = (("nova", "main", server.tip("nova")), ("nova", "stable", server.tip("nova", "stable")))
    with pytest.raises(GitError, match="project nova: state has branches main, stable"):
        prepare_workspace(str(tmp_path / "b"), state, server.repo_path)


# --- landing --------------------------------------------------------------

def test_land_moves_the_branch_and_is_idempotent(server):
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    state, old = prepare(server, change_for(server, "nova", "fix-1"))
    new = state_dict(state)[("nova", "main")]
    path = server.repo_path("nova")
    assert land(path, "main", old, new) == (True, None)
    assert server.tip("nova") == new
    assert server.show("nova", "main", "a.txt") == "a"
    assert land(path, "main", old, new) == (True, None)     # re-run after a crash
    assert server.tip("nova") == new


def test_land_fails_when_the_branch_moved(server):
    server.commit("nova", "fix-1", {"a.txt": "a\n"}, "Add a")
    state, old = prepare(server, change_for(server, "nova", "fix-1"))
    pushed = server.commit("nova", "main", {"x.txt": "x\n"}, "Pushed by hand")
    ok, reason = land(server.repo_path("nova"), "main", old, state_dict(state)[("nova", "main")])
    assert not ok
    assert reason == f"branch main moved from {old[:12]} to {pushed[:12]} outside gateq"
    assert server.tip("nova") == pushed
