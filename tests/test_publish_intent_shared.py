"""The publish intent is in the publish root, where every scheduler sharing
it sees it: a landing killed after git's compare-and-swap and before its
snapshot was placed is finished by whoever starts next, on any host.

- Real ZooKeeper, real scheduler and executor processes: the active
  scheduler is killed at AFTER_LAND (git moved, nothing renamed); a standby
  on another host (its own state directory and artifact store, the shared
  publish root) finishes the publication, its retried landing finds it
  published and publishes nothing twice, and the gate goes on: each item
  landed once, each snapshot names what git landed, no traceback.
- Without ZooKeeper: another host's start publishes (git moved) or rolls
  back (it did not) what a kill left; an intent an older gateq left in the
  state directory is still settled; an unreadable intent in the root stops
  the start in one line naming it; a landing whose exports are in another
  host's store, with nothing staged, lands and says nothing was published.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest

from gate_fixture import Gate, git, logged, not_logged, wait_until
from gateq.artifacts.failpoints import EXIT_CODE, Failpoint
from gateq.config.loader import load_config
from gateq.core.actions import Land
from gateq.git import land as git_land
from gateq.publishing import Artifacts
from test_zk_artifacts import LAYOUT                     # the export and reader jobs
from test_zk_takeover_stores import (EXPORT_JOB, READER_JOB, SESSION, assert_published_as_landed,
                                     scheduler_on)
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Hosts, Process, other_host

INTENT = ".gateq-intent-docs.json"        # the landing's first (only) repository: docs


def snapshots(g: Gate) -> list[str]:
    return sorted(os.listdir(os.path.join(g.config, "publish", "docs", "snapshots")))


def intents(g: Gate) -> list[str]:
    """Intents left anywhere: the publish root, or the state directories."""
    return (glob.glob(os.path.join(g.config, "publish", ".gateq-intent*"))
            + glob.glob(os.path.join(g.root, "config*", "state", "publish-intent*")))


def manifest(g: Gate, number: int) -> dict:
    with open(os.path.join(g.config, "publish", "docs", "snapshots", str(number),
                           "manifest.json")) as f:
        return json.load(f)


# -- the real scenario: a takeover on another host ------------------------------------

@pytest.fixture
def zk_gate(tmp_path, zk_server):
    g = Gate(tmp_path, window=5, slots=1, jobs=LAYOUT % {"seen": tmp_path / "seen"},
             project_jobs=("docs", "reader"))
    g.write_job("export.sh", EXPORT_JOB)
    g.write_job("reader.sh", READER_JOB)
    g.hosts = Hosts(g, zk_server.hosts, SESSION)
    yield g
    g.hosts.stop()


def test_a_standby_on_another_host_finishes_a_landing_killed_after_git_moved(zk_gate):
    g = zk_gate
    for ref in ("a", "b"):
        g.change("nova", ref)
        g.approve("nova", ref)
    first = Process(g.config, os.path.join(g.root, "scheduler-a.log"), "scheduler",
                    env={"GATEQ_FAILPOINT": Failpoint.AFTER_LAND.value})
    g.hosts.started.append(first)
    wait_until(lambda: first.says("scheduler active"), "the first scheduler to be active")
    standby = scheduler_on(g, "b", shared_root=True)
    wait_until(lambda: standby.says("standing by"), "the standby to stand by")
    executor = g.hosts.start("executor", "e1", "--slots", "3")
    wait_until(lambda: first.process.poll() is not None, "a's landing to kill the scheduler",
               timeout=90)
    assert first.process.returncode == EXIT_CODE, first.text()[-3000:]
    assert first.says(f"failpoint {Failpoint.AFTER_LAND.value}: exiting")
    # Left by the kill: a's branch moved, its snapshot staged, the intent in the root.
    assert g.landed() == ["a"] and not g.results()
    assert os.path.exists(os.path.join(g.config, "publish", INTENT))
    assert [n for n in snapshots(g) if not n.isdigit()] and not [n for n in snapshots(g)
                                                                 if n.isdigit()]
    tip = g.tip()
    wait_until(lambda: standby.says("scheduler active"), "the standby to take over", timeout=30)
    wait_until(lambda: len(g.results()) == 2, "both results", timeout=120)
    results = {r["change"]: r for r in g.results()}
    a = results["a"]
    assert standby.says(f"finished publishing item {a['item']} after an interrupted landing")
    assert g.outcome() == {"a": "merged", "b": "merged"}
    assert g.landed() == ["a", "b"]                        # each once
    assert a["commit"] == tip and a["snapshot"] == {"docs": 1}
    assert results["b"]["snapshot"] == {"docs": 2}
    # Snapshot 1 is the one a's scheduler staged, published once, from the root.
    assert [(c["item"], c["commit"]) for c in manifest(g, 1)["changes"]] == [(a["item"], tip)]
    assert [a_["path"] for a_ in manifest(g, 1)["artifacts"]] == ["pages/a.html"]
    assert snapshots(g) == ["1", "2"] and intents(g) == []
    assert_published_as_landed(g, ["a", "b"])
    assert not standby.says("cannot be published here")
    assert not standby.says("nothing was published")
    for process in (first, standby, executor):
        assert not process.says("Traceback"), process.text()[-3000:]


# -- the same steps without ZooKeeper ---------------------------------------------------

@pytest.fixture
def gate(tmp_path) -> Gate:
    g = Gate(tmp_path, jobs=LAYOUT % {"seen": tmp_path / "seen"}, project_jobs=("docs",))
    g.write_job("export.sh", EXPORT_JOB)
    g.write_job("reader.sh", READER_JOB)          # in the layout, run by no project here
    g.change("nova", "a")
    g.approve("nova", "a")
    return g


def kill_at(g: Gate, point: Failpoint) -> None:
    proc = g.cli_subprocess("run", "--until-idle", env={**os.environ,
                                                       "GATEQ_FAILPOINT": point.value},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_CODE, f"never reached {point.value}: {err[-2000:]}"


def another_host(g: Gate, name: str) -> Artifacts:
    """The artifacts of a scheduler on another host: its own state directory
    and store, the gate's publish root."""
    config = other_host(g.config, os.path.join(g.root, f"config-{name}"))
    shutil.rmtree(os.path.join(config, "publish"), ignore_errors=True)
    with open(os.path.join(config, "gateq.yaml"), "a") as f:
        f.write(f"publish:\n  root: {g.config}/publish\n")
    return Artifacts(load_config(config))


@pytest.mark.parametrize("point, verb, published", [
    (Failpoint.AFTER_LAND, "finished publishing", ["1"]),
    (Failpoint.INTENT_WRITTEN, "rolled back the staged snapshots of", []),
])
def test_another_hosts_start_settles_what_a_kill_left(gate, point, verb, published):
    g = gate
    kill_at(g, point)
    moved = g.landed() == ["a"]
    assert moved is (point is Failpoint.AFTER_LAND)
    assert os.path.exists(os.path.join(g.config, "publish", INTENT))
    assert not os.path.exists(os.path.join(g.config, "state", "publish-intent.json"))
    standby = another_host(g, "b")
    export = "1-0-docs"                 # a's export build, in the first host's store only
    assert Artifacts(load_config(g.config)).store.load(export) is not None
    assert standby.store.load(export) is None
    assert standby.recover() == f"{verb} item 1 after an interrupted landing"
    assert snapshots(g) == published and intents(g) == []
    if published:
        assert [(c["change"], c["commit"]) for c in manifest(g, 1)["changes"]] == [
            ("a", g.tip())]
        with open(os.path.join(g.config, "publish", "docs", "current", "pages", "a.html")) as f:
            assert f.read() == "page of a\n"
    assert standby.recover() is None                        # nothing left to do
    # The first host's engine goes on: a lands once, as snapshot 1.
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 0, err
    assert g.outcome() == {"a": "merged"} and g.landed() == ["a"]
    assert [r["snapshot"] for r in g.results()] == [{"docs": 1}]
    assert snapshots(g) == ["1"] and intents(g) == []
    assert "Traceback" not in err


def test_an_intent_an_older_gateq_left_in_the_state_directory_is_settled(gate):
    g = gate
    kill_at(g, Failpoint.AFTER_LAND)
    old = os.path.join(g.config, "state", "publish-intent.json")
    os.rename(os.path.join(g.config, "publish", INTENT), old)     # where it used to be
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 0, err
    assert "finished publishing item 1 after an interrupted landing" in logged(err, "WARNING")
    assert g.outcome() == {"a": "merged"} and g.landed() == ["a"]
    assert [r["snapshot"] for r in g.results()] == [{"docs": 1}]
    assert snapshots(g) == ["1"] and intents(g) == []


def test_an_unreadable_intent_in_the_publish_root_stops_the_start_in_one_line(gate):
    g = gate
    kill_at(g, Failpoint.AFTER_LAND)
    intent = os.path.join(g.config, "publish", INTENT)
    with open(intent, "w") as f:
        f.write('{"item": 1, "proj')
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 3 and not_logged(err) == [
        f"gateq: error: engine stopped: {intent}: cannot read the intent of an interrupted "
        "landing (JSONDecodeError: Unterminated string starting at: line 1 column 13 (char 12)); "
        "remove it, and the next start drops what that landing staged and retries it"]
    os.unlink(intent)
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 0, err
    assert g.outcome() == {"a": "merged"} and g.landed() == ["a"]
    assert [r["snapshot"] for r in g.results()] == [{"docs": 1}] and snapshots(g) == ["1"]


def test_a_landing_whose_exports_another_host_holds_lands_and_says_nothing_was_published(gate):
    """What is left impossible (an intent lost, say, or written by an older
    gateq on another host): the branch already moved, this store lacks the
    export and nothing was staged. No traceback: the landing is made (it
    was), nothing is published, and the reason says why."""
    g = gate
    old = g.tip()
    new = git("rev-parse", "refs/heads/a", cwd=g.bare("nova"))
    git("update-ref", "refs/heads/main", new, old, cwd=g.bare("nova"))    # git moved
    standby = another_host(g, "b")
    action = Land(1, 0, "nova", "main", old, new, publish=(("docs", ("1-0-docs",)),))
    ok, reason, published = standby.land(
        action, lambda: git_land.land(g.bare("nova"), "main", old, new))
    assert (ok, published) == (True, ())
    assert reason == ("nothing was published: the exports 1-0-docs are not in this host's "
                      "artifact store (accepted by another scheduler) and no snapshot of this "
                      "landing was staged in the publish root")
    assert not os.path.exists(os.path.join(g.config, "publish", "docs", "snapshots"))
    assert intents(g) == []
