"""A build whose commit no kept checkout is at, and none is free, lays the
difference over one lent at another commit (git/checkouts.py), with real
git and real overlays: the job sees exactly its commit's tree, git in it
says that commit and a clean status, and the checkout lent is neither
changed nor moved meanwhile; a large difference, a failure, and builds
prepared at once on a host with no checkout yet."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from gate_fixture import git, wait_until
from gateq.executor import BuildSpec, LocalExecutor
from gateq.git.checkouts import move_files
from gateq.git.repo import GitError
from gateq.git.workspace import WorkspaceMode, Workspaces
from unavailable import unavailable

# What a job writes of its checkout: every path with its kind, exec bit and content.
WALK = """\
import json, os, sys
found = {}
for top, dirs, names in os.walk("."):
    dirs[:] = sorted(d for d in dirs if d != ".git")
    for name in dirs + names:
        path = os.path.join(top, name)[2:]
        if os.path.islink(path):
            found[path] = ["link", os.readlink(path)]
        elif os.path.isdir(path):
            found[path] = ["dir"]
        else:
            found[path] = ["file", os.access(path, os.X_OK), open(path).read()]
json.dump(found, sys.stdout, sort_keys=True)
"""

KEPT_TREE = {                     # commit "kept": what the kept checkout is at
    "README": "kept\n", "same.txt": "same\n", "changed.txt": "old\n", "gone.txt": "gone\n",
    "dir_gone/a": "a\n", "dir_gone/sub/b": "b\n", "mixed/stay": "stay\n", "mixed/leave": "x\n",
    "script.sh": "#!/bin/sh\n", "to_dir": "file\n", "from_dir/x": "x\n",
}


@pytest.fixture
def repo(tmp_path):
    """nova with "kept" and "wanted": wanted adds files and a directory,
    changes a file, a link's target and an executable bit, removes files,
    a directory with a subdirectory, turns a file into a directory and a
    directory into a file; "third" changes README again."""
    work = str(tmp_path / "nova")
    git("init", "-q", "-b", "main", work, cwd=str(tmp_path))
    write(work, KEPT_TREE)
    os.symlink("README", os.path.join(work, "link"))
    commit = {"kept": commit_all(work, "kept")}
    git("rm", "-q", "-r", "gone.txt", "dir_gone", "mixed/leave", "to_dir", "from_dir", "link",
        cwd=work)
    write(work, {"README": "wanted\n", "changed.txt": "new\n", "added.txt": "added\n",
                 "new_dir/deep/f": "deep\n", "to_dir/inside": "inside\n", "from_dir": "file\n"})
    os.symlink("changed.txt", os.path.join(work, "link"))
    os.chmod(os.path.join(work, "script.sh"), 0o755)
    commit["wanted"] = commit_all(work, "wanted")
    write(work, {"README": "third\n"})
    commit["third"] = commit_all(work, "third")
    bare = str(tmp_path / "nova.git")
    git("clone", "-q", "--bare", work, bare, cwd=str(tmp_path))
    return bare, commit


def write(work: str, files: dict[str, str]) -> None:
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(work, path)), exist_ok=True)
        with open(os.path.join(work, path), "w") as f:
            f.write(text)


def commit_all(work: str, message: str) -> str:
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def ws(tmp_path, repo):
    found = Workspaces(str(tmp_path / "state"), lambda project: repo[0])
    if found.mode is not WorkspaceMode.OVERLAY:
        unavailable("overlayfs cannot be mounted here (see the log line of the probe)")
    if not found.kept.layering:
        unavailable("whiteouts cannot be made here (Linux before 5.8, unprivileged)")
    return found


def expected_tree(tmp_path, bare: str, commit: str) -> dict:
    """The tree a plain clone shows at `commit`, as the job writes it."""
    clone = tmp_path / f"expected-{commit[:8]}"
    git("clone", "-q", "--no-checkout", bare, str(clone), cwd=str(tmp_path))
    git("checkout", "-q", "--detach", commit, cwd=str(clone))
    return json.loads(python_walk(str(clone)))


def python_walk(path: str) -> str:
    return subprocess.run([sys.executable, "-c", WALK], cwd=path, check=True,
                          capture_output=True, text=True).stdout


def start(executor: LocalExecutor, ws: Workspaces, tmp_path, build: str, commit: str,
          script: str) -> str:
    """The build started in its workspace; its checkout's path."""
    prepared = ws.prepare(build, {"nova": commit})
    (tmp_path / "walk.py").write_text(WALK)
    job = tmp_path / f"{build}.sh"
    job.write_text(f"#!/bin/sh\nset -eu\nout={tmp_path}/{build}\n" + script)
    job.chmod(0o755)
    executor.start(BuildSpec(build, str(job), prepared.checkouts["nova"], {}, 60,
                             str(tmp_path / f"{build}.log"), writable=(ws.workspace_dir(build),),
                             overlays=prepared.overlays))
    return prepared.checkouts["nova"]


LOOK = (f"{sys.executable} {{walk}} > $out.tree\n"
        "git rev-parse HEAD > $out.head\n"
        "git status --porcelain > $out.status\n"
        "git diff HEAD --stat > $out.diff\n")


def ended(executor: LocalExecutor, count: int) -> list:
    done = []
    wait_until(lambda: done.extend(executor.poll()) or len(done) >= count, "the builds to end")
    assert {d.result.value for d in done} == {"success"}, done
    return done


def kept_state(path: str) -> tuple:
    """A kept checkout as a build could change it: its files, HEAD, index, .git's names."""
    dot_git = os.path.join(path, ".git")
    return (python_walk(path), open(os.path.join(dot_git, "HEAD")).read(),
            open(os.path.join(dot_git, "index"), "rb").read(), sorted(os.listdir(dot_git)))


def test_a_build_at_another_commit_sees_exactly_its_tree(tmp_path, repo, ws):
    bare, commit = repo
    executor = LocalExecutor()
    go = tmp_path / "go"
    start(executor, ws, tmp_path, "holder", commit["kept"],
          f"while [ ! -e {go} ]; do sleep 0.01; done\n")
    kept = str(tmp_path / "state" / "checkouts" / "nova" / "0")
    before = kept_state(kept)
    start(executor, ws, tmp_path, "layered", commit["wanted"],
          LOOK.format(walk=tmp_path / "walk.py")
          + "echo scribbled > same.txt && rm added.txt && touch untracked\n"
          + "git status --porcelain > $out.after\n"
          + f"touch {go}\n")
    ended(executor, 2)
    seen = json.loads((tmp_path / "layered.tree").read_text())
    assert seen == expected_tree(tmp_path, bare, commit["wanted"])
    assert seen["link"] == ["link", "changed.txt"] and seen["script.sh"][:2] == ["file", True]
    assert "dir_gone" not in seen and "gone.txt" not in seen and seen["from_dir"][0] == "file"
    assert (tmp_path / "layered.head").read_text() == commit["wanted"] + "\n"
    assert (tmp_path / "layered.status").read_text() == ""
    assert (tmp_path / "layered.diff").read_text() == ""
    # git in the job does not lie about what the job changed either
    assert (tmp_path / "layered.after").read_text().splitlines() == [
        " D added.txt", " M same.txt", "?? untracked"]
    assert os.listdir(tmp_path / "state" / "checkouts" / "nova") == ["0"]    # no checkout made
    assert kept_state(kept) == before                                        # nor changed
    assert git("rev-parse", "HEAD", cwd=kept) == commit["kept"]
    ws.remove("holder")
    ws.remove("layered")


def test_a_checkout_lent_as_a_base_is_not_moved_while_lent(tmp_path, repo, ws):
    """Its first holder ends while a layered build still uses it: the next
    build at a third commit lays its own difference, it does not move it."""
    bare, commit = repo
    executor = LocalExecutor()
    go = tmp_path / "go"
    start(executor, ws, tmp_path, "first", commit["kept"], "")
    ended(executor, 1)
    start(executor, ws, tmp_path, "layered", commit["wanted"],
          f"while [ ! -e {go} ]; do sleep 0.01; done\n" + LOOK.format(walk=tmp_path / "walk.py"))
    ws.remove("first")                  # the checkout is still lent, to "layered"
    start(executor, ws, tmp_path, "third", commit["third"],
          LOOK.format(walk=tmp_path / "walk.py") + f"touch {go}\n")
    ended(executor, 2)
    kept = str(tmp_path / "state" / "checkouts" / "nova" / "0")
    assert git("rev-parse", "HEAD", cwd=kept) == commit["kept"]
    assert os.listdir(tmp_path / "state" / "checkouts" / "nova") == ["0"]
    for build in ("layered", "third"):
        name = "wanted" if build == "layered" else "third"
        assert json.loads((tmp_path / f"{build}.tree").read_text()) == \
            expected_tree(tmp_path, bare, commit[name]), build
        assert (tmp_path / f"{build}.head").read_text() == commit[name] + "\n"
        assert (tmp_path / f"{build}.status").read_text() == ""
    ws.remove("layered")
    ws.remove("third")                  # now free: the next build moves it
    ws.prepare("after", {"nova": commit["third"]})
    assert git("rev-parse", "HEAD", cwd=kept) == commit["third"]
    ws.remove("after")


def test_a_large_difference_gets_a_checkout_of_its_own(tmp_path, repo, ws):
    _, commit = repo
    ws.kept.layer_most = 3              # "kept" to "wanted" is more paths than that
    ws.prepare("b1", {"nova": commit["kept"]})
    prepared = ws.prepare("b2", {"nova": commit["wanted"]})
    nova = tmp_path / "state" / "checkouts" / "nova"
    assert sorted(os.listdir(nova)) == ["0", "1"]
    assert prepared.overlays[0].lower == str(nova / "1")
    assert git("rev-parse", "HEAD", cwd=str(nova / "1")) == commit["wanted"]
    assert prepared.overlays[0].layers == ()                 # nothing laid: its own checkout
    prepared = ws.prepare("b3", {"nova": commit["third"]})   # "wanted" to "third": one path
    assert prepared.overlays[0].lower == str(nova / "1")
    assert open(os.path.join(prepared.overlays[0].layers[0], "README")).read() == "third\n"
    for build in ("b1", "b2", "b3"):
        ws.remove(build)


def test_a_difference_that_cannot_be_laid_gives_its_base_back(tmp_path, repo, ws):
    _, commit = repo
    ws.prepare("b1", {"nova": commit["kept"]})
    with pytest.raises(GitError):
        ws.prepare("b2", {"nova": "0" * 40})        # no such commit
    ws.remove("b2")
    ws.remove("b1")
    ws.prepare("b3", {"nova": commit["wanted"]})     # free again: moved, no layer
    kept = str(tmp_path / "state" / "checkouts" / "nova" / "0")
    assert git("rev-parse", "HEAD", cwd=kept) == commit["wanted"]
    assert os.listdir(tmp_path / "state" / "checkouts" / "nova") == ["0"]
    ws.remove("b3")


def test_builds_prepared_at_once_on_a_new_host_make_one_checkout(tmp_path, repo, ws):
    """The second waits for the first's checkout (a full checkout each on a
    large repository) and lays its difference over it."""
    bare, commit = repo
    prepared, failed = {}, []

    def prepare(name: str) -> None:
        try:
            prepared[name] = ws.prepare(name, {"nova": commit[name]})
        except Exception as exc:             # shown by the test, not lost in the thread
            failed.append(exc)
    threads = [threading.Thread(target=prepare, args=(name,)) for name in ("kept", "wanted")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failed and len(prepared) == 2
    assert os.listdir(tmp_path / "state" / "checkouts" / "nova") == ["0"]
    executor = LocalExecutor()
    (tmp_path / "walk.py").write_text(WALK)
    for name, ready in prepared.items():
        job = tmp_path / f"{name}.sh"
        job.write_text(f"#!/bin/sh\n{sys.executable} {tmp_path}/walk.py > {tmp_path}/{name}.tree\n")
        job.chmod(0o755)
        executor.start(BuildSpec(name, str(job), ready.checkouts["nova"], {}, 60,
                                 str(tmp_path / f"{name}.log"), overlays=ready.overlays))
    ended(executor, 2)
    for name in prepared:
        assert json.loads((tmp_path / f"{name}.tree").read_text()) == \
            expected_tree(tmp_path, bare, commit[name]), name
        ws.remove(name)


def test_whiteouts_are_what_overlayfs_reads_as_removed(tmp_path, ws, repo):
    """Each removed path is one character device 0/0 in the layer, a
    removed directory one for all it held."""
    _, commit = repo
    ws.prepare("b1", {"nova": commit["kept"]})
    layer = ws.prepare("b2", {"nova": commit["wanted"]}).overlays[0].layers[0]
    found = sorted(os.path.relpath(os.path.join(top, name), layer)
                   for top, _, names in os.walk(layer) for name in names
                   if stat.S_ISCHR(os.lstat(os.path.join(top, name)).st_mode))
    assert found == ["dir_gone", "gone.txt", "mixed/leave"]
    ws.remove("b1")
    ws.remove("b2")


def test_a_move_across_a_directory_turned_into_a_file_moves_only_what_differs(tmp_path, repo):
    """git refuses the paths inside a directory the new commit makes a file
    (they are not known to it): a move names the directory instead, and is
    not left to a whole checkout (seconds on a large repository)."""
    bare, commit = repo
    clone = str(tmp_path / "clone")
    git("clone", "-q", "--no-checkout", bare, clone, cwd=str(tmp_path))
    git("checkout", "-q", "--detach", commit["kept"], cwd=clone)
    same = os.stat(os.path.join(clone, "same.txt")).st_ino
    move_files(clone, commit["kept"], commit["wanted"])
    assert json.loads(python_walk(clone)) == expected_tree(tmp_path, bare, commit["wanted"])
    assert git("status", "--porcelain", cwd=clone) == ""
    assert git("rev-parse", "HEAD", cwd=clone) == commit["wanted"]
    assert os.stat(os.path.join(clone, "same.txt")).st_ino == same


def test_builds_of_one_commit_share_its_layer_until_the_last_ends(tmp_path, repo, ws):
    """Laid once, read-only under each build's own upper layer: one build's
    writes are not another's, and it goes with the last of them."""
    bare, commit = repo
    executor = LocalExecutor()
    ws.prepare("holder", {"nova": commit["kept"]})
    first = ws.prepare("w1", {"nova": commit["wanted"]}).overlays[0]
    second = ws.prepare("w2", {"nova": commit["wanted"]}).overlays[0]
    assert first.layers == second.layers and len(first.layers) == 1
    assert first.upper != second.upper
    (tmp_path / "walk.py").write_text(WALK)
    for build, overlay, script in (("w1", first, "echo mine > README\n"), ("w2", second, "")):
        job = tmp_path / f"{build}.sh"
        job.write_text(f"#!/bin/sh\nset -eu\n{script}"
                       f"{sys.executable} {tmp_path}/walk.py > {tmp_path}/{build}.tree\n")
        job.chmod(0o755)
        executor.start(BuildSpec(build, str(job), overlay.target, {}, 60,
                                 str(tmp_path / f"{build}.log"), overlays=(overlay,)))
        ended(executor, 1)
    wanted = expected_tree(tmp_path, bare, commit["wanted"])
    assert json.loads((tmp_path / "w2.tree").read_text()) == wanted
    assert json.loads((tmp_path / "w1.tree").read_text()) == {**wanted, "README": ["file", False, "mine\n"]}
    assert open(os.path.join(first.layers[0], "README")).read() == "wanted\n"
    ws.remove("w1")
    assert os.path.isdir(first.layers[0])            # w2 still has it
    ws.remove("w2")
    assert not os.path.exists(first.layers[0])
    ws.remove("holder")
    ws.prepare("after", {"nova": commit["third"]})    # the checkout is free again: moved
    assert git("rev-parse", "HEAD", cwd=str(tmp_path / "state" / "checkouts" / "nova" / "0")) \
        == commit["third"]
    ws.remove("after")
