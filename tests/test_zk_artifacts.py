"""Artifacts of builds on `gateq executor` processes, which share no
filesystem with the scheduler (each 'host' has its own state directory and
its own, empty, publish root): views come from the active scheduler's
artifact server, exports are uploaded back to it. Real ZooKeeper, real
executor processes, real publishing (a `files` repository):

- an export built on an executor is accepted and published when its change
  lands (the snapshot's manifest and files agree with git), and a build
  behind it sees it in $GATEQ_REPOS on its executor;
- an export the repository refuses fails its item with the reason, and
  nothing of it is published or seen behind;
- a standby that takes over while an export builds on an executor adopts
  the build (its token with it): the export is uploaded to the new
  scheduler and published by it;
- a successful export build whose upload did not reach the scheduler that
  collects it (sent to its predecessor) is a node failure: run again;
- a wrong or missing token is refused with 403 and nothing is stored;
- rpm: ceilometer, which needs nova, installs (dnf) on an executor from
  its view, which holds the nova packages an executor built (repodata and
  the pool's links come as plain files), and both are published.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

from gateq.config.loader import load_config
from gateq.core.actions import StartBuild
from gateq.core.types import Change, JobResult
from gateq.publishing import Artifacts
from gateq.zk.client import connect
from gateq.zk.remote_builds import RemoteBuilds
from gate_fixture import Gate, wait_until
from unavailable import unavailable
from zk_fixture import zk_server  # noqa: F401  (the fixture)
from zk_processes import Hosts, Process, add_zookeeper, host_config

SESSION = 3

LAYOUT = """\
- repository: {name: docs, type: files, keep: 5}
- job: {name: docs, run: jobs/export.sh, export: docs}
- job: {name: reader, run: jobs/reader.sh, requires: [docs], vars: {SEEN_DIR: %(seen)s}}
"""

# A change with a REJECT file exports a name the repository reserves.
EXPORT_JOB = """\
#!/bin/sh
set -eu
mkdir -p "$GATEQ_ARTIFACTS/pages"
[ -f "SLEEP-$GATEQ_CHANGE" ] && sleep "$(cat "SLEEP-$GATEQ_CHANGE")"
echo "page of $GATEQ_CHANGE" > "$GATEQ_ARTIFACTS/pages/$GATEQ_CHANGE.html"
if [ -f REJECT ]; then echo '{}' > "$GATEQ_ARTIFACTS/manifest.json"; fi
"""

# What the build saw in its view: every file, and each file's text.
READER_JOB = """\
#!/bin/sh
set -eu
seen="$SEEN_DIR/$GATEQ_BUILD"
mkdir -p "$seen"
echo "$GATEQ_CHANGES" > "$seen/changes"
[ -f "SLOW-$GATEQ_CHANGE" ] && sleep "$(cat "SLOW-$GATEQ_CHANGE")"
cd "$GATEQ_REPOS/docs"
find . -type f | sort > "$seen/view"
cat pages/*.html > "$seen/pages" 2>/dev/null || true
"""


@pytest.fixture
def gate(tmp_path, zk_server):
    g = Gate(tmp_path, window=5, slots=1, jobs=LAYOUT % {"seen": tmp_path / "seen"},
             project_jobs=("docs", "reader"))
    g.write_job("export.sh", EXPORT_JOB)
    g.write_job("reader.sh", READER_JOB)
    hosts = Hosts(g, zk_server.hosts, SESSION)
    g.zk_hosts, g.start = zk_server.hosts, hosts.start
    yield g
    hosts.stop()


def published(g: Gate, *path: str) -> str:
    return os.path.join(g.config, "publish", "docs", "current", *path)


def seen(g: Gate, ref: str, what: str) -> list[str]:
    """What the last reader build of `ref` saw ("view": its files)."""
    build = g.seen_builds(ref)[-1]
    with open(os.path.join(g.seen, build, what)) as f:
        return f.read().splitlines()


def test_exports_built_on_executors_are_published_and_seen_behind(gate):
    g = gate
    # a's reader is slow: b's runs while a is still ahead of it in the queue.
    for ref, files in (("a", {"SLOW-a": "3"}), ("bad", {"REJECT": "x"}), ("b", None)):
        g.change("nova", ref, files)
        g.approve("nova", ref)
    scheduler = g.start("scheduler", "a")
    executor = g.start("executor", "e1", "--slots", "2")
    wait_until(lambda: len(g.results()) == 3, "every result", timeout=120)
    assert g.outcome() == {"a": "merged", "bad": "failed", "b": "merged"}
    assert g.landed() == ["a", "b"]
    # The rejection, as a local build's: the reason in the result and in the log.
    bad = next(r for r in g.results() if r["change"] == "bad")
    reason = "export rejected: artifact 'manifest.json' uses a name the repository reserves"
    assert reason in bad["reason"]
    docs = next(j for j in bad["jobs"] if j["name"] == "docs")
    with open(os.path.join(g.config, "state", "logs", f"{docs['build']}.log")) as f:
        assert reason in f.read()
    # Published: both landed exports, nothing of the rejected one, and the
    # manifest names the commit git's branch is at.
    with open(published(g, "manifest.json")) as f:
        manifest = json.load(f)
    assert [c["change"] for c in manifest["changes"]] == ["b"]
    assert manifest["changes"][0]["commit"] == g.tip()
    assert [p["commit"] for p in manifest["projects"] if p["project"] == "nova"] == [g.tip()]
    assert sorted(a["path"] for a in manifest["artifacts"]) == ["pages/a.html", "pages/b.html"]
    assert open(published(g, "pages", "a.html")).read() == "page of a\n"
    assert open(published(g, "pages", "b.html")).read() == "page of b\n"
    # b's reader, on the executor, saw the export of a, ahead of it then, and not bad's.
    assert seen(g, "b", "changes") == ["nova:a nova:b"]
    assert seen(g, "b", "view") == ["./index.json", "./pages/a.html"]
    assert seen(g, "b", "pages") == ["page of a"]
    assert seen(g, "a", "view") == ["./index.json"]
    # The executor's host has no publication: everything came over HTTP.
    assert not os.path.exists(os.path.join(g.root, "config-e1", "publish", "docs", "current"))
    assert executor.says("took build") and scheduler.says("artifacts served to executors at")
    assert not scheduler.says("Traceback") and not executor.says("Traceback")


def test_a_standby_adopts_an_export_build_and_publishes_its_upload(gate):
    g = gate
    g.change("nova", "long", {"SLEEP": "5"})
    g.approve("nova", "long")
    a = g.start("scheduler", "a")
    wait_until(lambda: a.says("scheduler active"), "the first scheduler to be active")
    b = g.start("scheduler", "b")
    wait_until(lambda: b.says("standing by"), "the second scheduler to stand by")
    executor = g.start("executor", "e1", "--slots", "2")
    wait_until(lambda: executor.says("-reader success"), "the reader to end, the export running")
    a.process.kill()
    wait_until(lambda: b.says("scheduler active"), "the standby to take over", timeout=30)
    wait_until(lambda: g.outcome().get("long") == "merged", "the change to land", timeout=60)
    assert executor.text().count("took build") == 2      # adopted, not run again
    page = os.path.join(g.root, "config-b", "publish", "docs", "current", "pages", "long.html")
    assert open(page).read() == "page of long\n"
    assert not b.says("Traceback") and not executor.says("Traceback")


def test_a_wrong_or_missing_token_is_refused_and_nothing_is_stored(gate):
    g = gate
    g.change("nova", "a")
    g.approve("nova", "a")
    scheduler = g.start("scheduler", "a")      # no executor: the requests wait
    wait_until(lambda: scheduler.says("artifacts served to executors at"), "the server")
    client = KazooClient(hosts=g.zk_hosts)
    client.start(10)
    try:
        requests = wait_until(lambda: client.get_children("/gateq/builds/requests")
                              if client.exists("/gateq/builds/requests") else [],
                              "the build requests", timeout=30)
        wanted = [json.loads(client.get(f"/gateq/builds/requests/{r}")[0]) for r in requests]
        url = json.loads(client.get("/gateq/builds/sources")[0])["artifacts"]
    finally:
        client.stop()
        client.close()
    export = next(w for w in wanted if w["job"] == "docs")
    build, token = export["build"], export["token"]
    body = tar_of({"pages/x.html": b"planted\n"})
    for header in ({}, {"X-Gateq-Token": "not-" + token}, {"X-Gateq-Token": ""}):
        assert status(f"{url}/exports/{build}", "PUT", body, header) == 403
        assert status(f"{url}/views/{build}", "GET", None, header) == 403
    assert status(f"{url}/exports/no-such-build", "PUT", body, {"X-Gateq-Token": token}) == 403
    stored = os.path.join(g.config, "state", "remote-exports")
    assert not os.path.exists(stored) or os.listdir(stored) == []
    assert scheduler.says(f"refused PUT /exports/{build}")
    # The build's own token fetches its view: the empty published repository.
    with urllib.request.urlopen(urllib.request.Request(
            f"{url}/views/{build}", headers={"X-Gateq-Token": token}), timeout=30) as response:
        names = tarfile.open(fileobj=io.BytesIO(response.read())).getnames()
    assert "docs" in names


def test_an_export_that_reached_another_scheduler_is_built_again(gate):
    """The scheduler side alone (its executor's upload is played by the test):
    the build whose artifacts/ was uploaded is accepted into the store; one
    whose upload went to the scheduler before ends as a node failure, which
    the gate runs again without counting it against the change."""
    g = gate
    config = load_config(g.config)
    client = connect(config.zookeeper)
    board = RemoteBuilds(config, client, lambda event: None)
    try:
        board.remove_leftovers()            # the term's start: git daemon, artifact server
        change = Change("nova", "refs/heads/x", "main", "0" * 40)
        uploaded, elsewhere = (StartBuild(build, 1, "gate", "docs", change, (), ("nova:x",))
                               for build in ("1-0-docs", "1-0-docs~2"))
        board.start(uploaded)
        board.start(elsewhere)
        url = json.loads(client.get("/gateq/builds/sources")[0])["artifacts"]
        token = next(json.loads(client.get(f"/gateq/builds/requests/{r}")[0])["token"]
                     for r in client.get_children("/gateq/builds/requests") if r.endswith("docs"))
        # A link out is refused by the unpacking itself (422, the reason said), nothing kept.
        out = tarfile.TarInfo("passwd.html")
        out.type, out.linkname = tarfile.SYMTYPE, "/etc/passwd"
        answer = put(f"{url}/exports/1-0-docs", tar_of({}, out), token)
        assert answer == (422, "artifact 'passwd.html' is a link to an absolute path")
        assert os.listdir(os.path.join(g.config, "state", "remote-exports")) == []
        body = tar_of({"pages/x.html": b"page of x\n"})
        assert status(f"{url}/exports/1-0-docs", "PUT", body, {"X-Gateq-Token": token}) == 204
        assert board.check_export("1-0-docs", JobResult.SUCCESS) == (JobResult.SUCCESS, None)
        stored = Artifacts(config).store.load("1-0-docs")
        assert [e.path for e in stored.entries] == ["pages/x.html"]
        result, reason = board.check_export("1-0-docs~2", JobResult.SUCCESS)
        assert result is JobResult.NODE_FAILURE and "run again" in reason
        assert os.listdir(os.path.join(g.config, "state", "remote-exports")) == []
    finally:
        board.stop(5)
        client.stop()
        client.close()


def test_rpm_packages_built_on_executors_install_from_their_views_and_publish(
        tmp_path, zk_server):
    missing = [t for t in ("rpmbuild", "dnf", "createrepo_c") if shutil.which(t) is None]
    if missing:
        unavailable(f"needs {', '.join(missing)}")
    from test_publish_gate import current_manifest, published_rpms, rdo_gate, spec
    g = rdo_gate(tmp_path)
    add_zookeeper(g, zk_server.hosts, SESSION, executors=True)
    g.change("nova", "import-nova", {"nova.spec": spec("nova", "12.0.0"), "nova.conf": "[nova]\n"})
    g.change("ceilometer", "import-ceilometer", {
        "ceilometer.spec": spec("ceilometer", "9.0.0", "Requires: nova >= 12.0.0"),
        "ceilometer.conf": "[ceilometer]\n"})
    g.approve("nova", "import-nova")
    g.approve("ceilometer", "import-ceilometer")
    processes = [Process(config, os.path.join(g.root, f"{name}.log"), command)
                 for name, command, config in (
                     ("scheduler", "scheduler", g.config),
                     ("executor-e1", "executor", host_config(g, "e1")),
                     ("executor-e2", "executor", host_config(g, "e2")))]
    try:
        wait_until(lambda: len(g.results()) == 2, "both results", timeout=240)
    finally:
        for process in processes:
            process.stop()
    assert g.outcome() == {"import-nova": "merged", "import-ceilometer": "merged"}
    assert published_rpms(g) == {"nova-12.0.0-1.noarch.rpm", "ceilometer-9.0.0-1.noarch.rpm"}
    manifest = current_manifest(g)
    assert {p["project"]: p["commit"] for p in manifest["projects"]} == {
        "nova": g.tip("nova"), "ceilometer": g.tip("ceilometer")}
    assert not any(p.says("Traceback") for p in processes)


def tar_of(files: dict[str, bytes], *more: tarfile.TarInfo) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in more:
            tar.addfile(info)
    return out.getvalue()


def put(url: str, body: bytes, token: str) -> tuple[int, str]:
    """The status and the first line of what the server said."""
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"X-Gateq-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


def status(url: str, method: str, body: bytes | None, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
