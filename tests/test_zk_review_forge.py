"""A forge on ZooKeeper: its webhook reaches `gateq web` on host B, whose
events are intake rows in ZooKeeper; scheduler A (host A) takes them up,
lands the pull request and is killed around its report's delivery;
scheduler B (a state directory and a mirror of its own) takes over and
the forge has exactly one summary comment."""
from __future__ import annotations

import json
import os

import pytest

from forge.config import add_forge
from forge.hooks import delivery, pull_hook
from forge.standin import ForgeStandIn
from gate_fixture import Gate, wait_until
from test_web_helpers import Client, add_web
from test_zk_web_helpers import GateqProcess, add_zookeeper, ok, other_host, store_of
from zk_fixture import zk_server  # noqa: F401  (the fixture)

PROJECT = "rpms/nova"
PIPELINE = """\
- pipeline:
    name: merge
    manager: dependent
    require:
      forge: {label: gate, open: true}
    trigger:
      forge:
        - event: approved
          label: gate
    success: {forge: {status: success, merge: true}}
    failure: {forge: {status: failure}}
- project: {name: rpms/nova, connection: forge, queue: shared, merge: {jobs: [check]}}
"""


@pytest.mark.parametrize("point", ["outbox-sending", "outbox-delivered"])
def test_a_webhook_taken_on_one_host_lands_and_is_reported_once_across_a_failover(
        zk_server, tmp_path, point):
    with ForgeStandIn(tmp_path / "forge", "github") as forge:
        forge.make_project(PROJECT)
        g = Gate(tmp_path / "gate")
        add_web(g)
        add_forge(g, "github", forge.url, forge.git_url)
        with open(os.path.join(g.config, "layouts", "test.yaml"), "a") as f:
            f.write(PIPELINE)
        add_zookeeper(g.config, zk_server.hosts)
        b = other_host(g.config, str(tmp_path / "host-b"))
        a_scheduler = GateqProcess(g.config, str(tmp_path / "a.log"), "scheduler",
                                   env={"GATEQ_FAILPOINT": point})
        processes = [a_scheduler]
        try:
            a_scheduler.wait_for("scheduler active", "scheduler A to be active")
            b_scheduler = GateqProcess(b, str(tmp_path / "b.log"), "scheduler")
            web = GateqProcess(b, str(tmp_path / "web.log"), "web", "--listen", "127.0.0.1:0")
            processes += [b_scheduler, web]
            b_scheduler.wait_for("standing by", "scheduler B to stand by")
            number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
            status, _, answer = Client(web.url()).request(
                "POST", "/api/connections/forge/payload",
                *delivery("github", *pull_hook(forge, PROJECT, number, "labeled", label="gate")))
            assert status == 200, answer
            assert wait_until(lambda: a_scheduler.process.poll(), f"A to die at {point}",
                              timeout=90) == 137
            assert forge.state(PROJECT, number) == "merged"           # landed by A
            assert len(forge.comments[(PROJECT, number)]) == (point == "outbox-delivered")
            b_scheduler.wait_for("scheduler active", "scheduler B to take over")

            def delivered() -> bool:
                with store_of(b) as store:
                    return [r["state"] for r in store.outbox_rows()] == ["delivered"]
            wait_until(delivered, "the report delivered by B", timeout=60)
        finally:
            for process in processes:
                process.stop()
        [comment] = forge.comments[(PROJECT, number)]
        assert comment.startswith("Build succeeded, merged (merge pipeline).")
        head = forge.head(PROJECT, number)
        assert [s["state"] for s in forge.statuses[(PROJECT, head)]] == ["success"]
        [result] = json.loads(ok(b, "results", "--json"))
        assert (result["result"], result["commit"]) == ("merged", forge.tip(PROJECT))
        assert b_scheduler.says("was delivered before; not sent again") == (
            point == "outbox-delivered")
