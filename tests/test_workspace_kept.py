"""Kept checkouts (git/checkouts.py) and the overlays over them, with real
git repositories and real mounts: a build sees its own commit only, also
while another build of the same project runs on another commit; kept
checkouts move by what differs, survive a restart (one cut short while
moving is repaired), and go when surplus or unconfigured."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from gate_fixture import git, wait_until
from gateq.executor import BuildSpec, LocalExecutor
from gateq.git.checkouts import KEEP_FREE, UPDATING
from gateq.git.workspace import WorkspaceMode, Workspaces
from unavailable import unavailable


@pytest.fixture
def repo(tmp_path):
    """nova with commits one, two (README changed, b/ added, a.txt removed), three."""
    bare = str(tmp_path / "nova.git")
    work = str(tmp_path / "nova")
    git("init", "-q", "-b", "main", work, cwd=str(tmp_path))
    commits = {}
    for name, files, removed in (("one", {"README": "one\n", "a.txt": "a\n", "b": "file\n"}, []),
                                 ("two", {"README": "two\n", "b/c.txt": "c\n"}, ["a.txt", "b"]),
                                 ("three", {"README": "three\n"}, ["b/c.txt"])):
        for path in removed:
            git("rm", "-q", path, cwd=work)
        for path, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(work, path)), exist_ok=True)
            with open(os.path.join(work, path), "w") as f:
                f.write(text)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", name, cwd=work)
        commits[name] = git("rev-parse", "HEAD", cwd=work)
    git("clone", "-q", "--bare", work, bare, cwd=str(tmp_path))
    return bare, commits


def workspaces(tmp_path, repo) -> Workspaces:
    found = Workspaces(str(tmp_path / "state"), lambda project: repo[0])
    if found.mode is not WorkspaceMode.OVERLAY:
        unavailable("overlayfs cannot be mounted here (see the log line of the probe)")
    return found


def tree(path: str) -> dict[str, str]:
    found = {}
    for top, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            with open(os.path.join(top, name)) as f:
                found[os.path.relpath(os.path.join(top, name), path)] = f.read()
    return found


def run_build(executor: LocalExecutor, ws: Workspaces, build: str, commit: str, script: str,
              tmp_path) -> dict:
    prepared = ws.prepare(build, {"nova": commit})
    job = tmp_path / f"{build}.sh"
    job.write_text("#!/bin/sh\nset -eu\n" + script)
    job.chmod(0o755)
    executor.start(BuildSpec(build, str(job), prepared.checkouts["nova"], {}, 60,
                             str(tmp_path / f"{build}.log"), writable=(ws.workspace_dir(build),),
                             overlays=prepared.overlays))
    return prepared.checkouts


def finished(executor: LocalExecutor, count: int) -> list:
    done = []
    wait_until(lambda: done.extend(executor.poll()) or len(done) >= count, "the builds to end")
    return done


@pytest.mark.parametrize("layering", [True, False], ids=["layered", "checkout-each"])
def test_builds_on_two_commits_at_once_each_see_their_own(tmp_path, repo, layering):
    """The second build lays its difference over the checkout the first
    holds (tests/test_checkouts_diff_layer.py), or, without whiteouts, gets
    a checkout of its own."""
    _, commits = repo
    ws = workspaces(tmp_path, repo)
    ws.kept.layering = layering
    executor = LocalExecutor()
    go = tmp_path / "go"
    # the first build waits until the second has started, then looks
    run_build(executor, ws, "b1", commits["one"],
              f"echo mine > README\nwhile [ ! -e {go} ]; do sleep 0.01; done\n"
              f"cat README a.txt b > {tmp_path}/b1.seen\ngit rev-parse HEAD >> {tmp_path}/b1.seen\n",
              tmp_path)
    run_build(executor, ws, "b2", commits["two"],
              f"cat README b/c.txt > {tmp_path}/b2.seen\ngit rev-parse HEAD >> {tmp_path}/b2.seen\n"
              f"git status --porcelain >> {tmp_path}/b2.seen\ntouch {go}\n", tmp_path)
    assert {f.result.value for f in finished(executor, 2)} == {"success"}
    assert (tmp_path / "b1.seen").read_text() == f"mine\na\nfile\n{commits['one']}\n"
    assert (tmp_path / "b2.seen").read_text() == f"two\nc\n{commits['two']}\n"
    kept = sorted(os.listdir(tmp_path / "state" / "checkouts" / "nova"))
    assert kept == (["0"] if layering else ["0", "1"])     # neither changed under the other
    for build in ("b1", "b2"):
        ws.remove(build)
    for n in kept:                               # the builds' writes stayed theirs
        assert "mine\n" not in tree(str(tmp_path / "state" / "checkouts" / "nova" / n)).values()


def test_a_kept_checkout_moves_to_each_commit_exactly(tmp_path, repo):
    bare, commits = repo
    ws = workspaces(tmp_path, repo)
    kept = tmp_path / "state" / "checkouts" / "nova" / "0"
    for n, name in enumerate(("one", "two", "three", "one")):
        ws.prepare(f"b{n}", {"nova": commits[name]})
        expected = tmp_path / f"expected-{n}"
        git("clone", "-q", bare, str(expected), cwd=str(tmp_path))
        git("checkout", "-q", "--detach", commits[name], cwd=str(expected))
        assert tree(str(kept)) == tree(str(expected)), name
        assert git("status", "--porcelain", cwd=str(kept)) == ""
        assert git("rev-parse", "HEAD", cwd=str(kept)) == commits[name]
        ws.remove(f"b{n}")
    assert os.listdir(kept.parent) == ["0"]      # one build at a time: one checkout


def test_kept_checkouts_survive_a_restart_and_a_cut_short_move_is_repaired(tmp_path, repo):
    _, commits = repo
    ws = workspaces(tmp_path, repo)
    ws.prepare("b1", {"nova": commits["one"]})
    ws.remove("b1")
    kept = tmp_path / "state" / "checkouts" / "nova" / "0"
    (kept / "README").write_text("half written\n")     # a move killed mid-way
    (kept / "stray").write_text("left\n")
    (kept / UPDATING).write_text("")
    again = Workspaces(str(tmp_path / "state"), lambda project: repo[0])
    assert again.remove_leftovers({"nova"}) == 0
    checkouts = again.prepare("b2", {"nova": commits["one"]})
    assert tree(str(kept)) == {"README": "one\n", "a.txt": "a\n", "b": "file\n"}
    assert checkouts.checkouts == {"nova": again.workspace_dir("b2") + "/src/nova"}
    assert not (kept / UPDATING).exists()


def test_surplus_and_unconfigured_checkouts_go(tmp_path, repo):
    _, commits = repo
    ws = workspaces(tmp_path, repo)
    ws.kept.layering = False                      # each build a checkout of its own
    names = ("one", "two", "three")
    for name in names:                            # three at once: three checkouts
        ws.prepare(name, {"nova": commits[name]})
    for name in names:
        ws.remove(name)
    nova = tmp_path / "state" / "checkouts" / "nova"
    assert len(os.listdir(nova)) == 3             # busy: the surplus is kept a while
    ws.kept.surplus_idle = 0.0                    # ... and goes once unused that long
    ws.prepare("four", {"nova": commits["one"]})
    ws.remove("four")
    wait_until(lambda: len(os.listdir(nova)) == KEEP_FREE, "the surplus to go")
    trash = tmp_path / "state" / "trash"
    wait_until(lambda: not os.listdir(trash), "the trash to be emptied")
    restarted = Workspaces(str(tmp_path / "state"), lambda project: repo[0])
    restarted.remove_leftovers({"glance"})        # nova is no longer configured
    assert not nova.exists()
    wait_until(lambda: not os.listdir(trash), "the trash to be emptied")


def test_an_unprivileged_engine_mounts_them_too():
    """As a user without privileges, a user namespace of its own."""
    if os.geteuid() != 0:
        pytest.skip("runs as root, to switch to an unprivileged user")
    state = tempfile.mkdtemp(prefix="gateq-unprivileged-")    # its parents open to nobody
    os.chmod(state, 0o755)
    subprocess.run(["chown", "nobody", state], check=True)
    program = ("import sys; sys.path.insert(0, %r)\n"
               "from gateq.git.workspace import Workspaces\n"
               "ws = Workspaces(%r, str)\n"
               "print(ws.mode.name)\n") % (os.path.dirname(os.path.dirname(__file__)),
                                            state)
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "--", os.sys.executable, "-c", program],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    shutil.rmtree(state)
    assert done.stdout.strip() == "OVERLAY", done.stderr


def test_a_kept_checkout_of_another_repository_is_not_lent(tmp_path, repo):
    """A state directory copied beside its repositories (or a connection's
    root changed): the checkouts kept there borrow another object store."""
    bare, commits = repo
    ws = workspaces(tmp_path, repo)
    ws.prepare("b1", {"nova": commits["one"]})
    ws.remove("b1")
    moved = str(tmp_path / "moved.git")
    subprocess.run(["cp", "-a", bare, moved], check=True)
    again = Workspaces(str(tmp_path / "state"), lambda project: moved)
    checkouts = again.prepare("b2", {"nova": commits["two"]})
    kept = tmp_path / "state" / "checkouts" / "nova" / "0"
    assert open(kept / ".git" / "objects" / "info" / "alternates").read().startswith(moved)
    assert tree(str(kept)) == {"README": "two\n", "b/c.txt": "c\n"}
    assert checkouts.overlays[0].lower == str(kept)
