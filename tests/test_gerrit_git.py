"""git over SSH against the stand-in, with OpenSSH's ssh and real git:
clone and fetch patch set refs, push for review (refs/for/<branch>), push
to branches, and Gerrit closing changes whose commits reached the branch."""
import pytest

from gateq.drivers.gerrit import ChangeStatus, EventKind
from gerrit import new_change_id
from gerrit.fixtures import gerrit, gerrit_site, project, session_keys, stream  # noqa: F401
from gerrit.gitwork import GitCommandFailed


def change_message(subject, change_id=None):
    return f"{subject}\n\nChange-Id: {change_id or new_change_id()}\n"


def test_clone_and_fetch_a_patch_set_over_ssh(gerrit, project, tmp_path):
    alice, gateq = gerrit.users["alice"], gerrit.users["gateq"]
    change = gerrit.standin.upload(project, alice, {"a.txt": "hello\n"}, "Add a")
    work = gerrit.standin.work
    clone = str(tmp_path / "clone")
    work.git(gateq, "clone", "--quiet", work.url(gateq, project), clone)
    assert (tmp_path / "clone" / "README").read_text() == f"{project}\n"
    work.git(gateq, "fetch", "--quiet", "origin", change.ref, cwd=clone)
    fetched = work.git(gateq, "rev-parse", "FETCH_HEAD", cwd=clone).stdout.strip()
    assert fetched == change.revision
    listed = work.git(gateq, "ls-remote", work.url(gateq, f"/{project}.git")).stdout
    assert f"{change.revision}\t{change.ref}" in listed


def test_push_for_review_makes_a_change_then_a_second_patch_set(gerrit, project, stream):
    _, log = stream
    alice = gerrit.users["alice"]
    work = gerrit.standin.work
    path, first = work.commit(alice, project, [gerrit.standin.branch_tip(project)], {"f": "1"},
                              change_message("Add f", change_id := new_change_id()))
    output = work.push(alice, project, path, first, "refs/for/main")
    change = gerrit.standin.find(first)
    assert "New Changes:" in output and f"/c/{project}/+/{change.number} Add f" in output
    path, second = work.commit(alice, project, [gerrit.standin.branch_tip(project)], {"f": "2"},
                               change_message("Add f", change_id))
    output = work.push(alice, project, path, second, "refs/for/main%topic=fixes")
    again = gerrit.standin.find(second)
    assert (again.number, again.patchset, first != second) == (change.number, 2, True)
    assert "Updated Changes:" in output
    shown = gerrit.standin.change(change.number)
    assert (shown["topic"], shown["owner"]["username"]) == ("fixes", "alice")
    assert [ps["ref"] for ps in shown["patchSets"]] == [change.ref, again.ref]
    created = log.wait(lambda e: e.kind is EventKind.PATCHSET_CREATED
                       and e.change.number == change.number and e.patchset.number == 2)
    assert created.patchset.revision == second and created.change.topic == "fixes"


def test_a_pushed_chain_becomes_a_relation_chain(gerrit, project):
    alice = gerrit.users["alice"]
    work = gerrit.standin.work
    path, base = work.commit(alice, project, [gerrit.standin.branch_tip(project)], {"a": "1"},
                             change_message("Base"))
    path, top = work.commit(alice, project, [base], {"b": "1"}, change_message("Top"))
    work.push(alice, project, path, top, "refs/for/main")
    base_change, top_change = gerrit.standin.find(base), gerrit.standin.find(top)
    assert top_change.number == base_change.number + 1
    assert [d["number"] for d in gerrit.standin.change(top_change.number)["dependsOn"]] == [
        base_change.number]


@pytest.mark.parametrize("message, reason", [
    ("No footer\n", "missing Change-Id in message footer"),
    (f"Two\n\nChange-Id: {new_change_id()}\nChange-Id: {new_change_id()}\n",
     "multiple Change-Id lines in message footer"),
])
def test_push_for_review_needs_one_change_id(gerrit, project, message, reason):
    alice = gerrit.users["alice"]
    work = gerrit.standin.work
    path, commit = work.commit(alice, project, [gerrit.standin.branch_tip(project)], {"f": "1"},
                               message)
    with pytest.raises(GitCommandFailed) as exc:
        work.push(alice, project, path, commit, "refs/for/main")
    assert f"[remote rejected] {commit} -> refs/for/main (commit {commit[:7]}: {reason})" in \
        exc.value.stderr


def test_pushing_the_same_commit_again_is_no_new_change(gerrit, project):
    alice = gerrit.users["alice"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Once")
    path = gerrit.standin.work.checkout(alice, project)
    with pytest.raises(GitCommandFailed) as exc:
        gerrit.standin.work.push(alice, project, path, change.revision, "refs/for/main")
    assert "(no new changes)" in exc.value.stderr


def test_only_allowed_users_push_to_branches(gerrit, project):
    bob = gerrit.users["bob"]
    with pytest.raises(GitCommandFailed) as exc:
        gerrit.standin.push_branch(project, bob, {"f": "1"}, "Sneaky\n")
    assert "(prohibited by Gerrit: not permitted: update)" in exc.value.stderr


def test_branch_pushes_must_fast_forward(gerrit, project):
    alice = gerrit.users["alice"]
    work = gerrit.standin.work
    root = gerrit.standin.branch_tip(project)
    gerrit.standin.push_branch(project, alice, {"f": "1"}, "Ahead\n")
    path, sideways = work.commit(alice, project, [root], {"g": "1"}, "Sideways\n")
    with pytest.raises(GitCommandFailed) as exc:
        work.git(alice, "push", "--force", work.url(alice, project), f"{sideways}:refs/heads/main",
                 cwd=path)
    assert "(prohibited by Gerrit: not permitted: force update)" in exc.value.stderr


def test_pushing_the_tested_commit_closes_the_change_as_merged(gerrit, project, stream):
    _, log = stream
    alice, gateq = gerrit.users["alice"], gerrit.users["gateq"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Land me")
    work = gerrit.standin.work
    path = work.checkout(gateq, project)
    work.push(gateq, project, path, change.revision, "refs/heads/main")
    merged = log.wait(lambda e: e.kind is EventKind.CHANGE_MERGED and e.change.number == change.number)
    assert (merged.new_rev, merged.actor.username, merged.change.status) == (
        change.revision, "gateq", ChangeStatus.MERGED)
    updated = log.wait(lambda e: e.kind is EventKind.REF_UPDATED
                       and e.ref_update.ref == "refs/heads/main" and e.project == project)
    assert updated.ref_update.new_rev == change.revision
    shown = gerrit.standin.change(change.number)
    assert (shown["status"], shown["open"]) == ("MERGED", False)


def test_a_squashed_commit_with_the_change_id_closes_the_change(gerrit, project):
    alice, gateq = gerrit.users["alice"], gerrit.users["gateq"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Squash me")
    work = gerrit.standin.work
    path, squashed = work.commit(gateq, project, [gerrit.standin.branch_tip(project)], {"f": "1"},
                                 change_message("Squash me (squashed)", change.change_id),
                                 base=change.revision)
    work.push(gateq, project, path, squashed, "refs/heads/main")
    shown = gerrit.standin.change(change.number)
    assert shown["status"] == "MERGED"
    assert shown["currentPatchSet"]["revision"] == squashed


def test_a_change_on_another_branch_stays_open(gerrit, project):
    alice, gateq = gerrit.users["alice"], gerrit.users["gateq"]
    gerrit.standin.call("move_branch", project=project, branch="stable",
                        revision=gerrit.standin.branch_tip(project), user="gateq")
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "For stable", branch="stable")
    path = gerrit.standin.work.checkout(gateq, project)
    gerrit.standin.work.push(gateq, project, path, change.revision, "refs/heads/main")
    assert gerrit.standin.change(change.number)["status"] == "NEW"
