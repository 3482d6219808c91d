"""A standby taking over on another host, without the artifact store of the
scheduler it replaces: real ZooKeeper, real git, real scheduler and
executor processes, real publishing (a `files` repository).

- A standby with an empty state directory of its own but the publish root
  the gate publishes to takes over after SIGKILL of the active scheduler
  while an item whose export was accepted waits behind a slow item: the
  export is built again there, so is the reader behind that saw it, every
  item lands, and each published snapshot agrees with git.
- A standby whose publish root is its own (behind the gate's) does not act:
  one line says which root, repository and snapshots; it lands and
  publishes nothing, and a standby sharing the gate's root takes over and
  finishes the gate.
- The files of the current snapshot are taken into the store of a standby
  that did not make them, each checked against its manifest.
"""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from gateq import takeover
from gateq.config.loader import load_config
from gateq.publishing import Artifacts
from gate_fixture import Gate, wait_until
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from test_zk_artifacts import LAYOUT            # the same export and reader jobs
from zk_processes import Hosts, Process, host_config, other_host

SESSION = 3

EXPORT_JOB = """\
#!/bin/sh
set -eu
mkdir -p "$GATEQ_ARTIFACTS/pages"
echo "page of $GATEQ_CHANGE" > "$GATEQ_ARTIFACTS/pages/$GATEQ_CHANGE.html"
"""

# What the build saw in its view; a SLOW-<change> file makes it sleep first.
READER_JOB = """\
#!/bin/sh
set -eu
[ -f "SLOW-$GATEQ_CHANGE" ] && sleep "$(cat "SLOW-$GATEQ_CHANGE")"
seen="$SEEN_DIR/$GATEQ_BUILD"
mkdir -p "$seen"
cat "$GATEQ_REPOS"/docs/pages/*.html > "$seen/pages" 2>/dev/null || true
echo "$GATEQ_CHANGES" > "$seen/changes"
"""


@pytest.fixture
def gate(tmp_path, zk_server):
    g = Gate(tmp_path, window=5, slots=1, jobs=LAYOUT % {"seen": tmp_path / "seen"},
             project_jobs=("docs", "reader"))
    g.write_job("export.sh", EXPORT_JOB)
    g.write_job("reader.sh", READER_JOB)
    hosts = Hosts(g, zk_server.hosts, SESSION)
    g.hosts = hosts
    yield g
    hosts.stop()


def scheduler_on(g: Gate, host: str, shared_root: bool) -> Process:
    """A scheduler on another host; `shared_root`: it publishes to the gate's
    publish root (the first host's), else to its own."""
    config = host_config(g, host)
    shutil.rmtree(os.path.join(config, "publish"), ignore_errors=True)   # copied from the first
    if shared_root:
        with open(os.path.join(config, "gateq.yaml"), "a") as f:
            f.write(f"publish:\n  root: {g.config}/publish\n")
    process = Process(config, os.path.join(g.root, f"scheduler-{host}.log"))
    g.hosts.started.append(process)
    return process


def accepted(config: str, change: str) -> list[str]:
    """The export builds of `change` the artifact store of that host accepted."""
    sets = os.path.join(config, "state", "cas", "sets")
    found = []
    for name in sorted(os.listdir(sets)) if os.path.isdir(sets) else ():
        with open(os.path.join(sets, name)) as f:
            record = json.load(f)
        if record["change"] == change:
            found.append(record["build"])
    return found


def reader_runs(g: Gate, ref: str) -> list[str]:
    """What each finished reader build of `ref` saw, in the order they ran."""
    runs = []
    for build in g.seen_builds(ref):
        path = os.path.join(g.seen, build, "pages")
        if os.path.exists(path):
            with open(path) as f:
                runs.append(f.read())
    return runs


def snapshot_manifest(g: Gate, number: int) -> dict:
    with open(os.path.join(g.config, "publish", "docs", "snapshots", str(number),
                           "manifest.json")) as f:
        return json.load(f)


def assert_published_as_landed(g: Gate, refs: list[str]) -> None:
    """Each landed change's result names a snapshot whose manifest names that
    change and the commit its result says it landed as; current is git's tip."""
    results = {r["change"]: r for r in g.results()}
    for ref in refs:
        number = results[ref]["snapshot"]["docs"]
        manifest = snapshot_manifest(g, number)
        assert [(c["change"], c["commit"]) for c in manifest["changes"]] == \
            [(f"refs/heads/{ref}", results[ref]["commit"])] or \
            [(c["change"], c["commit"]) for c in manifest["changes"]] == \
            [(ref, results[ref]["commit"])], manifest["changes"]
    with open(os.path.join(g.config, "publish", "docs", "current", "manifest.json")) as f:
        current = json.load(f)
    assert current["changes"][0]["commit"] == g.tip()
    assert [p["commit"] for p in current["projects"] if p["project"] == "nova"] == [g.tip()]
    assert sorted(a["path"] for a in current["artifacts"]) == \
        sorted(f"pages/{ref}.html" for ref in refs)


def test_a_standby_sharing_the_publish_root_builds_the_lost_exports_again(gate):
    g = gate
    g.change("nova", "a", {"SLOW-a": "8"})
    for ref in ("a", "b", "c"):
        if ref != "a":
            g.change("nova", ref)
        g.approve("nova", ref)
    first = g.hosts.start("scheduler", "a")
    wait_until(lambda: first.says("scheduler active"), "the first scheduler to be active")
    standby = scheduler_on(g, "b", shared_root=True)
    wait_until(lambda: standby.says("standing by"), "the standby to stand by")
    executor = g.hosts.start("executor", "e1", "--slots", "3")
    # b's export is accepted and c's reader has seen it, while a's reader sleeps.
    wait_until(lambda: accepted(g.config, "nova:b") and reader_runs(g, "c"),
               "b's export accepted, c's reader done", timeout=60)
    assert reader_runs(g, "c") == ["page of a\npage of b\n"]
    assert not g.results()
    first.process.kill()
    wait_until(lambda: standby.says("scheduler active"), "the standby to take over", timeout=30)
    # a's and b's exports were accepted by the scheduler killed, c's maybe too.
    assert standby.says("item(s) have exports this host's artifact store lacks")
    wait_until(lambda: len(g.results()) == 3, "every result", timeout=120)
    assert g.outcome() == {"a": "merged", "b": "merged", "c": "merged"}
    assert g.landed() == ["a", "b", "c"]
    # Their exports were built again for the standby, under new builds.
    for change in ("nova:a", "nova:b"):
        runs = re.findall(rf"took build (\S+) \(docs of {change}\)", executor.text())
        assert len(runs) == 2 and runs[0] in accepted(g.config, change), runs
    # c's reader ran again, on a view with the exports as the standby stored them.
    assert reader_runs(g, "c") == ["page of a\npage of b\n"] * 2
    assert_published_as_landed(g, ["a", "b", "c"])
    assert not os.path.exists(os.path.join(g.root, "config-b", "publish", "docs", "current"))
    assert executor.says("took build") and not standby.says("Traceback")
    assert not executor.says("Traceback")


def test_a_standby_whose_publish_root_is_behind_refuses_and_a_right_one_takes_over(gate):
    g = gate
    g.change("nova", "one")
    g.approve("nova", "one")
    first = g.hosts.start("scheduler", "a")
    executor = g.hosts.start("executor", "e1", "--slots", "3")
    wait_until(lambda: g.outcome().get("one") == "merged", "the first change to land", timeout=60)
    g.change("nova", "two", {"SLOW-two": "4"})
    g.approve("nova", "two")
    wrong = scheduler_on(g, "w", shared_root=False)
    wait_until(lambda: wrong.says("standing by"), "the misconfigured standby to stand by")
    wait_until(lambda: executor.says("(reader of nova:two)"), "two's reader to be taken", timeout=60)
    tip = g.tip()
    first.process.kill()
    root = os.path.join(g.root, "config-w", "publish")
    line = (f"publish root {root} is not the one the gate published to (docs is at snapshot 0 "
            "here, the gate published snapshot 1): schedulers that publish must share one "
            "publish root")
    wait_until(lambda: wrong.says(line), "the standby to refuse", timeout=30)
    assert wrong.says("standing down, standing by again in 30s")
    assert not wrong.says("scheduler active")
    # A scheduler that shares the gate's root takes the term and finishes the gate.
    right = scheduler_on(g, "r", shared_root=True)
    wait_until(lambda: right.says("scheduler active"), "the right standby to take over",
               timeout=30)
    wait_until(lambda: g.outcome().get("two") == "merged", "the second change to land",
               timeout=60)
    assert g.landed() == ["one", "two"] and g.tip() != tip
    assert_published_as_landed(g, ["one", "two"])
    # The refusing one landed and published nothing.
    assert not os.path.exists(os.path.join(root, "docs", "current"))
    assert not wrong.says("scheduler active") and not wrong.says("landed")
    assert not wrong.says("Traceback") and not right.says("Traceback")


def test_a_standby_takes_the_published_files_into_its_store_checking_each(tmp_path, caplog):
    """No ZooKeeper needed: what adopting a published snapshot does to the
    store of a host that did not make it, and a file whose content is not
    what its manifest says, refused in one line."""
    g = Gate(tmp_path, jobs=LAYOUT % {"seen": tmp_path / "seen"}, project_jobs=("docs",))
    g.write_job("export.sh", EXPORT_JOB)
    g.write_job("reader.sh", READER_JOB)
    first = Artifacts(load_config(g.config))
    os.makedirs(tmp_path / "out" / "pages")
    (tmp_path / "out" / "pages" / "x.html").write_text("page of x\n")
    first.store.ingest("1-0-docs", "files", str(tmp_path / "out"), "docs", "nova:x")
    publisher = first.publisher("docs")
    publisher.switch(publisher.stage([first.store.load("1-0-docs")], {}))

    def host(name: str) -> Artifacts:
        config = other_host(g.config, str(tmp_path / name))
        shutil.rmtree(os.path.join(config, "publish"))
        with open(os.path.join(config, "gateq.yaml"), "a") as f:
            f.write(f"publish:\n  root: {g.config}/publish\n")
        return Artifacts(load_config(config))
    second = host("config-b")
    assert takeover.adopt_published(second) == 1
    (entry,) = first.store.load("1-0-docs").entries
    assert second.store.load("1-0-docs") is None        # the files, not the export's record
    with open(second.store.blob(entry.sha256)) as f:
        assert f.read() == "page of x\n"
    assert takeover.adopt_published(second) == 0          # already there: nothing to do
    published = os.path.realpath(os.path.join(g.config, "publish", "docs", "current", "pages",
                                              "x.html"))
    os.unlink(published)
    with open(published, "w") as f:
        f.write("not the page\n")
    third = host("config-c")
    assert takeover.adopt_published(third) == 0
    assert not os.path.exists(third.store.blob(entry.sha256))
    assert os.listdir(os.path.join(third.store.root, "tmp")) == []
    assert "pages/x.html: its content is not the sha256 its manifest names" in caplog.text
