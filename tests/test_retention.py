"""Build logs and leftover workspaces are removed past `keep-days` or beyond
the newest `keep-count` builds; never a running build's. First the
decision on listings, then real state directories with real mtimes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gateq.config.model import LogRetention
from gateq.retention import DAY, Entry, Kind, apply, listing, remove, select

NOW = 1_800_000_000.0


def limits(keep_days: float | None = None, keep_count: int | None = None) -> LogRetention:
    """logs: in gateq.yaml, None meaning no limit of that kind."""
    return LogRetention(keep_days=keep_days, keep_count=keep_count)


def log(build: str, age_days: float) -> Entry:
    return Entry(build, Kind.LOG, f"/state/logs/{build}.log", NOW - age_days * DAY)


def work(build: str, age_days: float) -> Entry:
    return Entry(build, Kind.WORKSPACE, f"/state/work/{build}", NOW - age_days * DAY)


def chosen(entries: list[Entry], policy: LogRetention, running=()) -> list[str]:
    return [e.path for e in select(entries, NOW, policy, running)]


# -- the decision -----------------------------------------------------------------

def test_builds_older_than_keep_days_go_with_their_log_and_workspace():
    entries = [log("1-0-a", 31), work("1-0-a", 31), log("2-0-a", 29), log("3-0-a", 30.5)]

    assert chosen(entries, limits(keep_days=30)) == [
        "/state/logs/1-0-a.log", "/state/work/1-0-a", "/state/logs/3-0-a.log"]


def test_only_the_newest_keep_count_builds_stay():
    entries = [log(f"{n}-0-a", age_days=n) for n in range(1, 6)] + [work("5-0-a", 5)]

    assert chosen(entries, limits(keep_count=3)) == [
        "/state/logs/5-0-a.log", "/state/work/5-0-a", "/state/logs/4-0-a.log"]


def test_either_limit_removes():
    entries = [log("old", 40), log("a", 1), log("b", 2), log("c", 3)]

    assert chosen(entries, limits(keep_days=30, keep_count=2)) == [
        "/state/logs/old.log", "/state/logs/c.log"]


def test_a_build_is_as_old_as_its_newest_file():
    """A re-run appends to the log: its old workspace is not judged alone."""
    entries = [work("1-0-a", 40), log("1-0-a", 1)]

    assert chosen(entries, limits(keep_days=30)) == []


def test_a_running_build_keeps_its_log_and_workspace_whatever_its_age():
    entries = [log("1-0-a", 90), work("1-0-a", 90), log("2-0-a", 90)]

    assert chosen(entries, limits(keep_days=30, keep_count=0), running={"1-0-a"}) == [
        "/state/logs/2-0-a.log"]


def test_without_limits_nothing_goes():
    assert chosen([log("1-0-a", 1000), work("2-0-a", 1000)], limits()) == []


def test_keep_count_zero_keeps_only_running_builds():
    assert chosen([log("a", 0), log("b", 0)], limits(keep_count=0), running={"b"}) == [
        "/state/logs/a.log"]


# -- real state directories -------------------------------------------------------

def make_build(state: Path, build: str, age_days: float, workspace: bool = True) -> None:
    stamp = NOW - age_days * DAY
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{build}.log").write_text(f"=== build {build} ===\n")
    os.utime(logs / f"{build}.log", (stamp, stamp))
    if workspace:
        src = state / "work" / build / "src" / "nova"
        src.mkdir(parents=True)
        (src / "nova.spec").write_text("Name: nova\n")
        os.utime(state / "work" / build, (stamp, stamp))


def names(state: Path) -> dict[str, list[str]]:
    return {d: sorted(os.listdir(state / d)) for d in ("logs", "work") if (state / d).exists()}


def test_old_logs_and_workspaces_are_removed_from_disk(tmp_path):
    state = tmp_path / "state"
    make_build(state, "1-0-check", 40)
    make_build(state, "2-0-check", 10)
    make_build(state, "3-0-check", 45, workspace=False)
    make_build(state, "4-0-check", 50)                     # running
    (state / "logs" / "notes.txt").write_text("not a build log\n")
    os.utime(state / "logs" / "notes.txt", (0, 0))

    removed = apply(str(state), NOW, limits(keep_days=30), running={"4-0-check"})

    assert sorted(removed.paths) == sorted(str(state / p) for p in (
        "logs/1-0-check.log", "work/1-0-check", "logs/3-0-check.log"))
    assert removed.failed == []
    assert names(state) == {"logs": ["2-0-check.log", "4-0-check.log", "notes.txt"],
                            "work": ["2-0-check", "4-0-check"]}
    assert removed.summary() == "removed 3 old build logs and workspaces"


def test_a_link_in_a_workspace_goes_but_not_what_it_points_to(tmp_path):
    state, outside = tmp_path / "state", tmp_path / "published"
    outside.mkdir()
    (outside / "keep.rpm").write_text("package\n")
    make_build(state, "1-0-check", 40)
    (state / "work" / "1-0-check" / "repos").symlink_to(outside)
    (state / "work" / "2-0-check").symlink_to(outside)      # a workspace that is a link
    os.utime(state / "work" / "2-0-check", (0, 0), follow_symlinks=False)

    apply(str(state), NOW, limits(keep_days=30), running=())

    assert names(state)["work"] == []
    assert (outside / "keep.rpm").read_text() == "package\n"


def test_entries_that_vanish_meanwhile_count_as_removed(tmp_path):
    state = tmp_path / "state"
    for n in range(1, 4):
        make_build(state, f"{n}-0-check", 40)
    entries = select(listing(str(state)), NOW, limits(keep_days=30), running=())
    (state / "logs" / "1-0-check.log").unlink()               # another remover got there first
    shutil.rmtree(state / "work" / "2-0-check")
    (state / "work" / "3-0-check" / "src" / "nova" / "nova.spec").unlink()

    removed = remove(entries)

    assert (len(removed.paths), removed.failed) == (6, [])
    assert names(state) == {"logs": [], "work": []}


def test_what_cannot_be_removed_is_reported_and_the_rest_goes(tmp_path):
    """A job left a mount in its workspace: rmdir says busy."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    state = tmp_path / "state"
    make_build(state, "1-0-check", 40)
    make_build(state, "2-0-check", 40)
    mount_point = state / "work" / "1-0-check" / "mnt"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount_point)], check=True)
    try:
        os.utime(state / "work" / "1-0-check", (NOW - 40 * DAY,) * 2)
        removed = apply(str(state), NOW, limits(keep_days=30), running=())
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)

    assert removed.failed == [(str(state / "work" / "1-0-check"), "Device or resource busy")]
    assert len(removed.paths) == 3
    assert names(state) == {"logs": [], "work": ["1-0-check"]}
    assert removed.summary() == ("removed 3 old build logs and workspaces; 1 could not be removed "
                                 f"({state / 'work' / '1-0-check'}: Device or resource busy)")


def test_an_unprivileged_engine_removes_a_workspace_its_job_made_read_only():
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    root = tempfile.mkdtemp(prefix="gateq-retention-")
    try:
        os.chmod(root, 0o777)
        script = f"""
import os, sys
sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})
from gateq.config.model import LogRetention
from gateq.retention import apply
state = {root!r} + "/state"
tree = state + "/work/1-0-check/src/deep"
os.makedirs(tree)
open(tree + "/file", "w").close()
os.makedirs(state + "/work/1-0-check/locked")
for d in (tree, os.path.dirname(tree), state + "/work/1-0-check/locked"):
    os.chmod(d, 0o555)
os.chmod(state + "/work/1-0-check/locked", 0)
os.utime(state + "/work/1-0-check", (0, 0))
removed = apply(state, 1e9, LogRetention(keep_days=1), running=())
print(removed.summary(), os.listdir(state + "/work"))
"""
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                               sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "removed 1 old build logs and workspaces []\n"
