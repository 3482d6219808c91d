"""Forge webhooks on ZooKeeper: `gateq web` on two hosts behind one
address. Each delivery's events are intake rows in ZooKeeper (where the
active scheduler takes them up), and a delivery one host took is refused
by the other (the forge's redelivery goes wherever the balancer sends it):
the delivery ids are claimed in ZooKeeper, not in a host's state."""
from __future__ import annotations

import json
import os

from forge.config import add_forge
from forge.hooks import delivery, pull_hook
from forge.standin import ForgeStandIn
from gate_fixture import Gate
from test_web_helpers import Client, add_web
from test_zk_web_helpers import GateqProcess, add_zookeeper, other_host, store_of
from zk_fixture import zk_server  # noqa: F401  (the fixture)

PROJECT = "rpms/nova"
PAYLOAD = "/api/connections/forge/payload"


def post(client: Client, body: bytes, headers: dict) -> tuple[int, dict]:
    status, _, answer = client.request("POST", PAYLOAD, body, headers)
    return status, json.loads(answer)


def test_a_delivery_taken_on_one_host_is_refused_on_the_other(zk_server, tmp_path):
    with ForgeStandIn(tmp_path / "forge", "github") as forge:
        forge.make_project(PROJECT)
        g = Gate(tmp_path / "gate")
        add_web(g)
        add_forge(g, "github", forge.url, forge.git_url)
        add_zookeeper(g.config, zk_server.hosts)
        b = other_host(g.config, str(tmp_path / "host-b"))
        webs = [GateqProcess(config, str(tmp_path / f"web-{n}.log"), "web", "--listen",
                             "127.0.0.1:0") for n, config in enumerate((g.config, b))]
        try:
            a_client, b_client = (Client(web.url()) for web in webs)
            number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
            first = delivery("github", *pull_hook(forge, PROJECT, number, "opened"))
            second = delivery("github", *pull_hook(forge, PROJECT, number, "labeled",
                                                   label="gate"))
            assert post(a_client, *first)[0] == 200
            status, answer = post(b_client, *first)                  # redelivered to B
            assert status == 409 and "was taken before" in answer["error"], answer
            assert post(b_client, *second)[0] == 200
            assert post(a_client, *second)[0] == 409
        finally:
            for web in webs:
                web.stop()
        with store_of(b) as store:
            rows = store.intake_pending()
        assert [(r["connection"], json.loads(r["event"])["kind"]) for r in rows] == [
            ("forge", "proposed"), ("forge", "approved")]
        for config in (g.config, b):
            assert not os.path.exists(os.path.join(config, "state", "gateq.db"))
            assert not os.path.exists(os.path.join(config, "state", "forge", "forge.sqlite"))
