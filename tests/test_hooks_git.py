"""`gateq hook install` and the post-receive hook, with real pushes: a push
to refs/for/BRANCH over file:// proposes the commit as a change (journaled
through the hook command), `-o gateq.approve` approves it, and pushes the
hook does not understand are neither rejected nor looked at."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from gateq.drivers.git.install import InstallError
from gateq.drivers.records import ChangeState, Origin, ReviewEvent, ReviewEventKind
from gateq.hooks import install

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
       "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
# What the CLI's `gateq hook ...` will do, with a file for a journal.
JOURNAL_COMMAND = textwrap.dedent("""\
    import json, sys
    sys.path.insert(0, {root!r})
    from gateq.hooks import hook_main
    def journal(event):
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps(event.as_dict()) + "\\n")
    assert sys.argv[2] == "hook"
    sys.exit(hook_main(sys.argv[3:], journal))
    """)


def git(cwd, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **ENV}, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


class Hosted:
    """A bare repository with the hook installed, and a developer's clone."""

    def __init__(self, tmp_path):
        self.bare = str(tmp_path / "root" / "nova.git")
        self.journal = str(tmp_path / "journal.jsonl")
        git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", self.bare)
        self.work = str(tmp_path / "work")
        git(tmp_path, "init", "--quiet", "--initial-branch=main", self.work)
        self.commit("README", "Initial commit")
        git(self.work, "push", "--quiet", self.url, "HEAD:refs/heads/main")
        script = tmp_path / "journal.py"
        script.write_text(JOURNAL_COMMAND.format(root=ROOT))
        self.said = install(self.bare, [sys.executable, str(script), self.journal],
                            "local", "nova")

    @property
    def url(self) -> str:
        return "file://" + self.bare

    def commit(self, name: str, subject: str) -> str:
        with open(os.path.join(self.work, name), "w") as f:
            f.write(subject + "\n")
        git(self.work, "add", name)
        git(self.work, "commit", "--quiet", "-m", subject)
        return git(self.work, "rev-parse", "HEAD").stdout.strip()

    def push(self, ref: str, *options: str, rev: str = "HEAD") -> subprocess.CompletedProcess:
        return git(self.work, "push", *[f"--push-option={o}" for o in options], self.url,
                   f"{rev}:{ref}")

    def refs(self) -> dict[str, str]:
        out = git(self.bare, "for-each-ref", "--format=%(refname) %(objectname)").stdout
        return {ref: sha for sha, ref in (line.split(" ")[::-1] for line in out.splitlines())}

    def events(self) -> list[ReviewEvent]:
        if not os.path.exists(self.journal):
            return []
        with open(self.journal) as f:
            return [ReviewEvent.from_dict(json.loads(line)) for line in f]


@pytest.fixture
def hosted(tmp_path):
    return Hosted(tmp_path)


def test_a_push_for_review_proposes_and_approves_a_change(hosted):
    revision = hosted.commit("a", "Add a")
    pushed = hosted.push("refs/for/main", "gateq.approve")
    assert "remote: gateq: change 1,1 proposed for main at refs/changes/01/1/1, approved" in \
        pushed.stderr
    proposed, approved = hosted.events()
    for event, kind in ((proposed, ReviewEventKind.PROPOSED), (approved, ReviewEventKind.APPROVED)):
        assert (event.connection, event.kind, event.project, event.branch, event.origin,
                event.state) == ("local", kind, "nova", "main", Origin.HOOK, ChangeState.OPEN)
        assert (event.change.ref, event.change.revision, event.change.number,
                event.change.patchset) == ("refs/changes/01/1/1", revision, 1, 1)
    refs = hosted.refs()
    assert refs["refs/changes/01/1/1"] == revision
    assert "refs/for/main" not in refs                   # as on Gerrit: never a ref


def test_each_push_is_a_new_change_unless_it_names_one(hosted):
    hosted.commit("a", "Add a")
    hosted.push("refs/for/main")
    git(hosted.work, "checkout", "--quiet", "--detach", "HEAD~1")   # unrelated to the first
    second = hosted.commit("b", "Add b")
    said = hosted.push("refs/for/main").stderr           # no "non-fast-forward": refs/for/ is gone
    assert "change 2,1 proposed" in said
    third = hosted.commit("c", "Add c")
    assert "patch set 2,2 proposed" in hosted.push("refs/for/main", "gateq.change=2").stderr
    assert [(e.kind, e.change.target) for e in hosted.events()] == [
        (ReviewEventKind.PROPOSED, "1,1"), (ReviewEventKind.PROPOSED, "2,1"),
        (ReviewEventKind.PROPOSED, "2,2")]
    assert hosted.refs()["refs/changes/02/2/1"] == second
    assert hosted.refs()["refs/changes/02/2/2"] == third


def test_what_cannot_be_proposed_is_said_and_the_push_goes_through(hosted):
    hosted.commit("a", "Add a")
    said = hosted.push("refs/for/stable").stderr
    assert "gateq: no branch stable in nova: nothing proposed" in said
    said = hosted.push("refs/for/main", "gateq.change=9").stderr
    assert "gateq: nothing proposed: no change 9 in this repository" in said
    assert hosted.events() == []
    assert "refs/for/main" not in hosted.refs() and "refs/for/stable" not in hosted.refs()
    on_main = git(hosted.work, "rev-parse", "HEAD~1").stdout.strip()
    said = hosted.push("refs/for/main", rev=on_main).stderr
    assert f"gateq: {on_main[:12]} is already on main: nothing proposed" in said


def test_other_pushes_are_not_looked_at(hosted, tmp_path):
    os.unlink(os.path.join(tmp_path, "journal.py"))      # the hook command would fail loudly
    hosted.commit("a", "Add a")
    began = time.monotonic()
    pushed = hosted.push("refs/heads/main")
    assert "gateq" not in pushed.stderr and hosted.events() == []
    assert time.monotonic() - began < 5
    hosted.commit("b", "Add b")
    failed = hosted.push("refs/for/main")                  # accepted; the failure is told
    assert "gateq: the hook command failed (exit 2)" in failed.stderr


def test_install_keeps_a_hook_it_did_not_write(hosted, tmp_path):
    path = os.path.join(hosted.bare, "hooks", "post-receive")
    assert hosted.said == (f"installed {path}: a push to refs/for/BRANCH proposes a change of "
                           "nova on connection local; add -o gateq.approve to approve it")
    install(hosted.bare, ["gateq"], "local", "nova")                  # its own: replaced
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho mine\n")
    with pytest.raises(InstallError) as exc:
        install(hosted.bare, ["gateq"], "local", "nova")
    assert str(exc.value) == (f"{path} exists and was not written by gateq: merge it with "
                              "gateq's hook by hand, or move it aside and install again")
    with pytest.raises(InstallError, match="not a git repository"):
        install(str(tmp_path), ["gateq"], "local", "nova")
