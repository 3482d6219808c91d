"""The web service as clients meet it: pages and their JSON twins, the
admin API recording through the journal like the CLI, the streams, and
the metrics, against a real gate."""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time

import pytest

from gate_fixture import Gate, wait_until
from gateq.state import open_store
from test_web_helpers import ServeProcess, add_web, web_service


def journal_rows(g: Gate) -> int:
    path = os.path.join(g.config, "state", "gateq.db")
    if not os.path.exists(path):
        return 0
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]


@pytest.fixture
def gate(tmp_path):
    g = Gate(tmp_path)
    add_web(g)
    return g


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_admin_requests_are_recorded_like_the_cli(gate):
    rev = gate.change("nova", "fix-1")
    gate.change("nova", "fix-2")
    logged, web_log = Lines(), logging.getLogger("gateq.web")
    web_log.addHandler(logged)
    web_log.setLevel(logging.INFO)
    with web_service(gate) as web:
        status, answer = web.post_json("/api/event", {"kind": "approved", "project": "nova",
                                                      "change": "fix-1"})
        assert (status, answer) == (200, {
            "recorded": f"approved event for nova:fix-1 at {rev[:12]} for branch main: enters gate",
            "journal_row": 1, "token": "release-bot"})
        assert web.post_json("/api/promote", {"pipeline": "gate", "project": "nova",
                                              "change": "fix-1"})[0] == 200
        # The same refusal as the CLI's, as a 400, and nothing recorded.
        assert web.post_json("/api/dequeue", {"pipeline": "gate", "project": "nova",
                                              "change": "fix-2"}, token="triage") == \
            (400, {"error": "nova:fix-2 is not in pipeline gate"})
        assert web.post_json("/api/enqueue", {"pipeline": "gate", "project": "nova",
                                              "change": "fix-2"}, token="triage") == \
            (403, {"error": "token 'triage' may not enqueue (it may: dequeue)"})
        assert web.post_json("/api/enqueue", {"pipeline": "gate", "project": "nova",
                                              "change": "fix-2"}, token=None)[0] == 401
        assert journal_rows(gate) == 2
        assert web.post_json("/api/dequeue", {"pipeline": "gate", "project": "nova",
                                              "change": "fix-1"}, token="triage")[0] == 200
    web_log.removeHandler(logged)
    web_log.setLevel(logging.NOTSET)
    assert [line for line in logged.lines if line.startswith("admin")] == [
        f"admin event by token 'release-bot': recorded approved event for nova:fix-1 at {rev[:12]} "
        "for branch main: enters gate (journal row 1)",
        "admin promote by token 'release-bot': recorded promotion of nova:fix-1 (item 1) to the "
        "head of its queue in gate (journal row 2)",
        "admin dequeue by token 'triage' refused: nova:fix-2 is not in pipeline gate",
        "admin dequeue by token 'triage': recorded dequeue of nova:fix-1 (item 1) from gate "
        "(journal row 3)"]
    gate.run()
    assert gate.outcome() == {"fix-1": "dequeued"}


def test_every_page_has_a_json_twin_with_the_same_data(gate):
    gate.change("nova", "fix-1")
    gate.change("nova", "fix-2", {"FAIL": "x"})
    gate.approve("nova", "fix-1")
    gate.approve("nova", "fix-2")
    gate.run()
    with web_service(gate) as web:
        results = web.json("/api/results?pipeline=gate")
        assert [(r["change"], r["result"]) for r in results["results"]] == \
            [("fix-2", "failed"), ("fix-1", "merged")]
        status, _, page = web.get("/results?pipeline=gate")
        html = page.decode()
        for record in results["results"]:
            assert f"#{record['item']}" in html
            assert record["commit"] is None or record["commit"][:12] in html
            for job in record["jobs"]:
                assert f'href="/builds/{job["build"]}"' in html
        assert web.json("/api/results?result=failed&pipeline=gate")["total"] == 1
        assert web.json("/api/results?per-page=1&page=2&pipeline=gate")["results"][0]["change"] == "fix-1"
        build = results["results"][0]["jobs"][0]["build"]
        data = web.json(f"/api/builds/{build}")
        assert data["state"] == "failure" and data["outcome"]["result"] == "failed"
        assert "tests failed" in data["log"]["text"]
        status, _, page = web.get(f"/builds/{build}")
        assert status == 200 and "tests failed" in page.decode()
        status, _, raw = web.get(f"/builds/{build}/log")
        assert status == 200 and raw.decode() == data["log"]["text"]


# A job that says it is alive every 0.2 s until the test releases its change,
# so its log grows while the page watches; it fails on a FAIL-* file.
TALK_JOB = """\
#!/bin/sh
i=0
until [ -f "$RELEASE/$GATEQ_CHANGE" ]; do echo "tick $i"; i=$((i+1)); sleep 0.2; done
if ls FAIL-* >/dev/null 2>&1; then echo "tests failed"; exit 1; fi
echo "tests passed"
"""


def talking_gate(tmp_path, **kw) -> Gate:
    release = tmp_path / "release"
    release.mkdir()
    g = Gate(tmp_path, jobs=f"- job: {{name: talk, run: jobs/talk.sh, vars: {{RELEASE: {release}}}}}\n",
             project_jobs=("talk",), **kw)
    g.write_job("talk.sh", TALK_JOB)
    g.release = lambda ref: (release / ref).write_text("go\n")
    add_web(g)
    return g


def item_of(status: dict, ref: str) -> dict | None:
    for pipeline in status["pipelines"]:
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                if item["change"] == ref:
                    return item
    return None


def test_a_live_build_shows_its_chain_commits_and_growing_log(tmp_path):
    g = talking_gate(tmp_path)
    g.change("nova", "fix-1")
    g.change("nova", "fix-2")
    g.approve("nova", "fix-1")
    g.approve("nova", "fix-2")
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    web = serve.client
    try:
        def running(ref):
            item = item_of(web.json("/api/status"), ref)
            return item if item and item["jobs"][0]["state"] == "running" else None
        second = wait_until(lambda: running("fix-2"), "fix-2's build to run")
        first = wait_until(lambda: running("fix-1"), "fix-1's build to run")
        assert second["based_on_item"] == first["item"] and second["position"] == 1
        build = second["jobs"][0]["build"]
        data = web.json(f"/api/builds/{build}")
        assert [c["change"] for c in data["chain"]] == ["fix-1", "fix-2"]
        (tested,) = data["tested_on"]
        assert (tested["project"], tested["branch"]) == ("nova", "main")
        assert tested["commit"] not in (g.tip(), first["revision"], second["revision"])
        events = web.events(f"/api/builds/{build}/log/events",
                            lambda seen: len([e for e in seen if e[0] == "log"]) >= 3)
        offsets = [json.loads(data)["offset"] for name, data in events if name == "log"]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert "tick 0" in "".join(json.loads(d)["text"] for n, d in events if n == "log")
        g.release("fix-1")
        g.release("fix-2")
        events = web.events(f"/api/builds/{build}/log/events", lambda seen: seen[-1][0] == "end")
        text = "".join(json.loads(d)["text"] for n, d in events if n == "log")
        assert "\ntick 0\ntick 1\n" in text and "tests passed" in text
        assert text == web.get(f"/builds/{build}/log")[2].decode()     # the whole log, once
        wait_until(lambda: web.json("/api/results?pipeline=gate")["total"] == 2, "both to land")
        assert g.landed() == ["fix-1", "fix-2"]
    finally:
        assert serve.stop() == 0
    assert "web service stopped" in serve.stderr()


def test_the_status_page_shows_what_its_twin_says(tmp_path):
    g = talking_gate(tmp_path)
    for ref in ("fix-1", "fix-2", "fix-3"):
        g.change("nova", ref, {"FAIL": "x"} if ref == "fix-2" else None)
        g.approve("nova", ref)
    g.release("fix-2")                   # fails at once; fix-1 and fix-3 keep running
    serve = ServeProcess(g, str(tmp_path / "serve.log"))
    try:
        web = serve.client
        def failing():
            item = item_of(web.json("/api/status"), "fix-2")
            return item if item and item["failing"] else None
        item = wait_until(failing, "fix-2 to fail")
        assert item["failed_jobs"] == ["talk"]
        behind = wait_until(lambda: (lambda i: i if i and i["generation"] == 1 else None)(
            item_of(web.json("/api/status"), "fix-3")), "fix-3 re-tested without fix-2")
        old = web.json(f"/api/builds/{behind['item']}-0-talk")     # its first generation's
        assert (old["state"], old["current"], old["chain"]) == ("superseded", False, None)
        assert web.get(f"/builds/{behind['item']}-0-talk")[0] == 200
        status = web.json("/api/status")
        _, _, page = web.get("/status")
        html = page.decode()
        for pipeline in status["pipelines"]:
            for queue in pipeline["queues"]:
                for shown in queue["items"]:
                    block = html.split(f'id="item-{shown["item"]}"')[1].split("</li>")[0]
                    assert f'data-position="{shown["position"]}"' in block
                    assert f"{shown['project']}:{shown['change']}" in block
                    for job in shown["jobs"]:
                        assert f'state-{job["state"]}" data-job="{job["name"]}"' in block
                    if shown["failing"]:
                        assert "failed: talk" in block
        for ref in ("fix-1", "fix-3"):
            g.release(ref)
        wait_until(lambda: g.outcome() == {"fix-1": "merged", "fix-2": "failed", "fix-3": "merged"},
                   "the gate to settle")
    finally:
        serve.stop()


def test_metrics_are_read_from_the_store(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families
    g = Gate(tmp_path)
    add_web(g)
    for ref in ("fix-1", "fix-2"):
        g.change("nova", ref, {"FAIL": "x"} if ref == "fix-2" else None)
        g.approve("nova", ref)
    g.run()
    g.change("nova", "fix-3")
    g.approve("nova", "fix-3")                  # recorded, not read by an engine yet
    store = open_store(os.path.join(g.config, "state"))
    store.outbox_add([("r1", "forge", "nova:fix-1", "{}"), ("r2", "forge", "nova:fix-2", "{}")],
                     time.time())
    first = store.outbox_rows()[0]["id"]
    store.outbox_attempt(first)
    store.outbox_retry(first, time.time() + 60, "503 from the forge")
    store.close()
    with web_service(g) as web:
        status, headers, body = web.get("/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert samples[("gateq_landings_total", (("pipeline", "gate"),))] == 1
    assert samples[("gateq_items_finished_total", (("pipeline", "gate"), ("result", "failed")))] == 1
    assert samples[("gateq_journal_backlog", ())] == 1
    assert samples[("gateq_build_duration_seconds_count", (("job", "check"), ("result", "success")))] == 1
    assert samples[("gateq_time_to_land_seconds_count", (("pipeline", "gate"),))] == 1
    assert samples[("gateq_report_outbox_size", (("connection", "forge"),))] == 2
    assert samples[("gateq_report_outbox_failing", (("connection", "forge"),))] == 1
    for name in ("gateq_connection_events_received", "gateq_report_outbox_size",
                 "gateq_report_outbox_failing", "gateq_report_refused", "gateq_connection_up"):
        assert f"# TYPE {name}" in body.decode()


def test_an_unreadable_store_is_a_503_and_the_service_recovers(tmp_path):
    g = Gate(tmp_path)
    add_web(g)
    with web_service(g) as web:
        assert web.json("/api/status")["pipelines"][0]["queues"] == []   # no state yet: empty
        g.change("nova", "fix-1")
        g.approve("nova", "fix-1")
        assert web.json("/api/status")["pending_events"] in (0, 1)     # its stores are open now
        db = os.path.join(g.config, "state", "gateq.db")
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(db, "rb") as f:
            good = f.read()
        with open(db, "r+b") as f:                      # the same file, garbled in place
            f.write(b"this is not a database\n" * 100)
        for path in ("/api/status", "/status", "/metrics", "/api/results"):
            # The status may be served for up to half a second from what was read before.
            status, headers, body = wait_until(lambda: (lambda r: r if r[0] != 200 else None)(
                web.get(path)), f"{path} to answer 503", timeout=10)
            assert status == 503 and headers["Retry-After"] == "5", (path, status, body)
            assert body.count(b"\n") == 1 and "corrupt" in json.loads(body)["error"], body
        with open(db, "r+b") as f:
            f.write(good)
        wait_until(lambda: web.get("/api/status")[0] == 200, "the status to be read again")
        assert web.json("/api/status")["pending_events"] == 1


def test_a_restored_database_is_read_at_once(tmp_path):
    """Restoring a backup replaces the file: the service reads the new one."""
    g = Gate(tmp_path)
    add_web(g)
    g.change("nova", "fix-1")
    g.change("nova", "fix-2")
    g.approve("nova", "fix-1")
    db = os.path.join(g.config, "state", "gateq.db")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, db + ".backup")
    g.approve("nova", "fix-2")
    with web_service(g) as web:
        assert web.json("/api/status")["pending_events"] == 2
        os.replace(db + ".backup", db)
        for leftover in (db + "-wal", db + "-shm"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        wait_until(lambda: web.json("/api/status")["pending_events"] == 1,
                   "the restored database to be read")


EXPORT_JOB = """\
#!/bin/sh
set -eu
echo "$GATEQ_CHANGE" > "$GATEQ_ARTIFACTS/$GATEQ_CHANGE.txt"
cat *.txt > "$GATEQ_ARTIFACTS/all.txt"
echo exported
"""


def test_publication_lists_snapshots_manifests_and_their_difference(tmp_path):
    g = Gate(tmp_path, jobs="- repository: {name: site, type: files, keep: 5}\n"
                            "- job: {name: export, run: jobs/export.sh, export: site}\n",
             project_jobs=("export",))
    g.write_job("export.sh", EXPORT_JOB)
    add_web(g)
    for ref in ("fix-1", "fix-2"):
        g.change("nova", ref)
        g.approve("nova", ref)
        g.run()
    with web_service(g) as web:
        (repo,) = web.json("/api/publication")["repositories"]
        assert (repo["name"], repo["current"]) == ("site", 2)
        assert [s["snapshot"] for s in repo["snapshots"]] == [2, 1]
        assert [c["change"] for c in repo["snapshots"][0]["changes"]] == ["fix-2"]
        manifest = web.json("/api/publication/site/snapshots/2")["manifest"]
        assert sorted(a["path"] for a in manifest["artifacts"]) == ["all.txt", "fix-1.txt", "fix-2.txt"]
        diff = web.json("/api/publication/site/diff?from=1&to=2")
        assert (diff["added"], diff["removed"], diff["rebuilt"]) == (["fix-2.txt"], [], [
            {"from": "all.txt", "to": "all.txt"}])
        assert [c["subject"] for c in diff["commits"]] == ["Merge nova:fix-2 into main", "Change fix-2"]
        assert diff["commits"][0]["commit"] == g.tip()
        export = g.results()[1]["jobs"][0]["build"]
        build = web.json(f"/api/builds/{export}")
        assert sorted(a["path"] for a in build["artifacts"]) == ["all.txt", "fix-2.txt"]
        assert build["published"] == [{"repository": "site", "snapshot": 2}]
        _, _, page = web.get("/publication")
        assert "snapshot 2" in page.decode() and repo["install"] in page.decode()
        for path in ("/publication/site/snapshots/2", "/publication/site/diff?from=1&to=2"):
            assert web.get(path)[0] == 200
        assert web.get("/api/publication/site/snapshots/7")[0] == 404
        assert web.get("/api/publication/nope/snapshots/1")[0] == 404


def test_rpm_packages_are_told_apart_by_version_order():
    from gateq.web.publication import package_changes
    def rpm(name, version, release="1", sha="x"):
        return {"name": name, "epoch": "0", "version": version, "release": release,
                "arch": "noarch", "path": f"{name}.rpm", "sha256": sha}
    a = {"artifacts": [rpm("nova", "1.9"), rpm("old", "1"), rpm("glance", "2.0", "3"),
                       rpm("same", "1")]}
    b = {"artifacts": [rpm("nova", "1.10", sha="y"), rpm("new", "1"), rpm("glance", "2.0~rc1", sha="z"),
                       rpm("same", "1")]}
    changes = package_changes(a, b)
    assert changes["added"] == ["new-1-1.noarch"] and changes["removed"] == ["old-1-1.noarch"]
    assert changes["upgraded"] == [{"from": "nova-1.9-1.noarch", "to": "nova-1.10-1.noarch"}]
    assert changes["downgraded"] == [{"from": "glance-2.0-3.noarch", "to": "glance-2.0~rc1-1.noarch"}]


def test_a_forge_connection_plugs_its_webhook_in(tmp_path):
    """The hook a forge driver registers gets the raw body; others get 404."""
    from aiohttp import web as aioweb
    from gateq.config.loader import load_config
    from gateq.web.connections import ConnectionHooks
    from gateq.web.server import WebService
    from test_web_helpers import Client
    g = Gate(tmp_path)
    add_web(g, extra="  max-body: 1024\n")
    received = []

    async def payload(request, body: bytes):
        received.append((request.headers.get("X-Gitea-Signature"), body))
        return aioweb.json_response({"accepted": len(body)})
    hooks = ConnectionHooks()
    hooks.register("distgit", payload)
    service = WebService(load_config(g.config), ("127.0.0.1", 0), hooks)
    web = Client(service.start())
    try:
        raw = b'{"action": "opened",  "number": 1}'         # as sent: spaces kept
        status, _, body = web.request("POST", "/api/connections/distgit/payload", raw,
                                      {"Content-Type": "application/json", "X-Gitea-Signature": "ab"})
        assert (status, json.loads(body)) == (200, {"accepted": len(raw)})
        assert received == [("ab", raw)]
        assert web.request("POST", "/api/connections/distgit/payload", b"x" * 2000,
                           {"Content-Type": "application/json"})[0] == 413
        status, _, body = web.request("POST", "/api/connections/other/payload", raw, {})
        assert status == 404 and "takes no webhook payloads" in json.loads(body)["error"]
        assert len(received) == 1
    finally:
        service.stop()
