"""`gateq web` on its own, with no engine, and what it refuses; the ETA rules."""
from __future__ import annotations

import socket

from gate_fixture import Gate, not_logged
from gateq.web.estimates import item_eta, typical_durations
from test_web_helpers import ServeProcess, add_web


def test_gateq_web_records_without_an_engine_and_the_engine_takes_it_later(tmp_path):
    g = Gate(tmp_path)
    add_web(g, listen=None)
    g.change("nova", "fix-1")
    web = ServeProcess(g, str(tmp_path / "web.log"), ("web", "--listen", "127.0.0.1:0"))
    try:
        status, answer = web.client.post_json("/api/event", {"kind": "approved", "project": "nova",
                                                             "change": "fix-1"})
        assert status == 200 and answer["journal_row"] == 1
        assert web.client.json("/api/status")["pending_events"] == 1
    finally:
        assert web.stop() == 0                      # SIGTERM: a clean stop
    g.run()                                         # an engine, later, reads what was recorded
    assert g.outcome() == {"fix-1": "merged"}


def test_gateq_web_refuses_what_it_cannot_serve_in_one_line(tmp_path):
    g = Gate(tmp_path)
    add_web(g, listen=None)
    rc, out, err = g.gateq("web", "--listen", "0.0.0.0:8080")
    assert rc == 2 and not_logged(err) == [
        "gateq: error: --listen: 0.0.0.0 is not a loopback address (set web.allow-remote: true "
        "in gateq.yaml to serve other hosts)"]
    rc, out, err = g.gateq("web", "--listen", "localhost:http")
    assert rc == 2 and "expected HOST:PORT" in not_logged(err)[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, err = g.gateq("web", "--listen", f"127.0.0.1:{port}")
    assert rc == 3 and not_logged(err) == [
        f"gateq: error: cannot listen on 127.0.0.1:{port}: Address already in use"], err


def run(name, result, duration=None, started=None, finished=None):
    return {"name": name, "result": result, "duration": duration, "started_at": started,
            "finished_at": finished}


def test_a_job_usually_takes_the_median_of_its_last_successful_runs():
    results = [{"jobs": [run("unit", "success", d)]} for d in (100, 1, 2, 3, 4, 50)] + \
              [{"jobs": [run("unit", "failure", 999), run("lint", "success", started=10, finished=14)]}]
    assert typical_durations(results) == {"unit": 3, "lint": 4}   # last five: 1 2 3 4 50


def test_an_items_eta_follows_its_longest_chain_of_jobs():
    now = 1000.0
    jobs = [{"name": "build", "state": "running", "started_at": now - 30, "finished_at": None},
            {"name": "test", "state": "waiting", "started_at": None, "finished_at": None},
            {"name": "lint", "state": "success", "started_at": now - 60, "finished_at": now - 50}]
    typical = {"build": 100.0, "test": 40.0, "lint": 10.0}
    depends = {"test": ("build",), "build": (), "lint": ()}
    assert item_eta(jobs, depends, typical, now) == 70 + 40
    assert item_eta(jobs, {"test": (), "build": (), "lint": ()}, typical, now) == 70
    assert item_eta(jobs, depends, {"build": 100.0}, now) is None       # test never ran
    jobs[0]["started_at"] = now - 500                                   # overdue: 0 left
    assert item_eta(jobs, depends, typical, now) == 40


def test_serve_refuses_to_start_when_its_web_address_is_taken(tmp_path):
    g = Gate(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        add_web(g, listen=f"127.0.0.1:{port}")
        rc, out, err = g.gateq("serve")
    assert rc == 3 and not_logged(err) == [
        f"gateq: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    g.change("nova", "fix-1")
    g.approve("nova", "fix-1")
    g.run()                                   # the lock was let go: an engine starts
    assert g.outcome() == {"fix-1": "merged"}
