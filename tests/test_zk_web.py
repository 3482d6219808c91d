"""Every host reads the same gate from ZooKeeper: a gate run on one
configuration ("host A"), then `gateq status`, `gateq results` and a
`gateq web` process on a second configuration with an empty state
directory ("host B"), which show what A wrote, build logs included."""
from __future__ import annotations

import json
import os
import socket

from gate_fixture import Gate, wait_until
from test_web_helpers import Client, add_web
from test_zk_web_helpers import GateqProcess, add_zookeeper, ok, other_host
from zk_fixture import zk_server  # noqa: F401  (the fixture)


def ran_gate(tmp_path, hosts: str) -> tuple[Gate, str]:
    """Two changes gated on host A (one lands, one fails); host B's configuration."""
    g = Gate(tmp_path)
    add_zookeeper(g.config, hosts)
    g.change("nova", "fix-1")
    g.change("nova", "fix-2", {"FAIL": "x"})
    g.approve("nova", "fix-1")
    g.approve("nova", "fix-2")
    g.run()
    return g, other_host(g.config, str(tmp_path / "host-b"))


def test_status_and_results_read_the_same_from_another_host(zk_server, tmp_path):
    g, b = ran_gate(tmp_path, zk_server.hosts)
    here, there = json.loads(g.ok("results", "--json")), json.loads(ok(b, "results", "--json"))
    assert [(r["change"], r["result"]) for r in there] == [("fix-1", "merged"),
                                                          ("fix-2", "failed")]
    assert there == here
    assert json.loads(ok(b, "status", "--json")) == json.loads(g.ok("status", "--json"))
    assert ok(b, "results").splitlines() == g.ok("results").splitlines()
    assert not os.path.exists(os.path.join(b, "state", "gateq.db"))


def test_gateq_web_on_another_host_serves_what_the_gate_wrote(zk_server, tmp_path):
    g, b = ran_gate(tmp_path, zk_server.hosts)
    web = GateqProcess(b, str(tmp_path / "web.log"), "web", "--listen", "127.0.0.1:0")
    try:
        client = Client(web.url())
        results = client.json("/api/results")["results"]
        assert sorted((r["change"], r["result"]) for r in results) == [("fix-1", "merged"),
                                                                      ("fix-2", "failed")]
        failed = next(r for r in results if r["change"] == "fix-2")
        build = failed["jobs"][0]["build"]
        assert not os.path.exists(os.path.join(b, "state", "logs", f"{build}.log"))
        page = client.json(f"/api/builds/{build}")
        with open(os.path.join(g.config, "state", "logs", f"{build}.log")) as f:
            written_on_a = f.read()
        assert page["log"]["text"] == written_on_a and "tests failed" in written_on_a
        code, _, raw = client.get(f"/builds/{build}/log")
        assert (code, raw.decode()) == (200, written_on_a)
        code, _, body = client.get("/builds/999-0-check/log")
        assert code == 404 and b"no log for build 999-0-check here" in body
    finally:
        web.stop()


def test_gateq_web_shows_a_build_running_on_a_scheduler_of_another_host(zk_server, tmp_path):
    g = Gate(tmp_path)
    add_zookeeper(g.config, zk_server.hosts)
    g.change("nova", "fix-1", {"SLEEP": "60"})
    g.approve("nova", "fix-1")
    b = other_host(g.config, str(tmp_path / "host-b"))
    scheduler = GateqProcess(g.config, str(tmp_path / "scheduler.log"), "scheduler")
    web = GateqProcess(b, str(tmp_path / "web.log"), "web", "--listen", "127.0.0.1:0")
    try:
        client = Client(web.url())

        def running_job():
            for pipeline in client.json("/api/status")["pipelines"]:
                for queue in pipeline["queues"]:
                    for item in queue["items"]:
                        for job in item["jobs"]:
                            if job["state"] == "running":
                                return pipeline["name"], item, job
            return None
        pipeline, item, job = wait_until(running_job, "the build running, as host B shows it")
        assert (pipeline, item["change"]) == ("gate", "fix-1")
        page = client.json(f"/api/builds/{job['build']}")
        active = f"{socket.gethostname()}:{scheduler.process.pid}"
        assert (page["finished"], page["log"]["elsewhere"]) == (False, f"scheduler {active}")
        code, _, body = client.get(f"/builds/{job['build']}/log")
        assert code == 404 and f"it runs on scheduler {active}".encode() in body, body
    finally:
        web.stop()
        scheduler.stop()


def test_an_admin_request_on_another_host_is_journaled_in_zookeeper(zk_server, tmp_path):
    g = Gate(tmp_path)
    add_web(g)
    add_zookeeper(g.config, zk_server.hosts)
    rev = g.change("nova", "fix-1")
    b = other_host(g.config, str(tmp_path / "host-b"))
    web = GateqProcess(b, str(tmp_path / "web.log"), "web", "--listen", "127.0.0.1:0")
    try:
        status, answer = Client(web.url()).post_json(
            "/api/event", {"kind": "approved", "project": "nova", "change": "fix-1"})
    finally:
        web.stop()
    assert (status, answer["journal_row"]) == (200, 1), answer
    assert answer["recorded"].startswith(f"approved event for nova:fix-1 at {rev[:12]}")
    assert json.loads(g.ok("status", "--json"))["pending_events"] == 1     # read on host A
    g.run()
    assert g.outcome() == {"fix-1": "merged"}
    assert not os.path.exists(os.path.join(b, "state", "gateq.db"))


def test_gateq_web_with_zookeeper_down_answers_503_in_one_line_then_serves(zk_server, tmp_path):
    g, b = ran_gate(tmp_path, zk_server.hosts)
    web = GateqProcess(b, str(tmp_path / "web.log"), "web", "--listen", "127.0.0.1:0")
    try:
        client = Client(web.url())
        assert len(client.json("/api/results")["results"]) == 2        # its session open
        zk_server.stop()
        answered = wait_until(lambda: (lambda got: got[0] == 503 and got)(client.get("/api/results")),
                              "a 503 (answers up to half a second old are served from memory)")
        error = json.loads(answered[2])["error"]
        assert error.startswith(f"the state cannot be read: zookeeper {zk_server.hosts}: ") \
            and "\n" not in error, error
        zk_server.start()
        wait_until(lambda: client.get("/api/results")[0] == 200, "the web to serve again")
        assert len(client.json("/api/results")["results"]) == 2
    finally:
        web.stop()
