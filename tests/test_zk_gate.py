"""A gate whose gateq.yaml has `zookeeper:`: `gateq event`, `gateq run`,
`gateq results` and `gateq status` record and read in ZooKeeper, not the
state directory's database; ZooKeeper down is one line naming the hosts."""
from __future__ import annotations

import os

from gate_fixture import Gate
from zk_fixture import zk_server  # noqa: F401  (the fixture)


def zk_gate(tmp_path, hosts: str, **kw) -> Gate:
    g = Gate(tmp_path, **kw)
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write(f"zookeeper:\n  hosts: '{hosts}'\n  session-timeout: 4\n")
    return g


def test_the_gate_records_and_reads_in_zookeeper(zk_server, tmp_path):
    g = zk_gate(tmp_path, zk_server.hosts)
    g.change("nova", "fix-1")
    g.change("nova", "fix-2", {"FAIL": "x"})
    g.approve("nova", "fix-1")
    g.approve("nova", "fix-2")
    assert '"pending_events": 2' in g.ok("status", "--json")
    g.run()
    assert g.outcome() == {"fix-1": "merged", "fix-2": "failed"}
    assert g.landed() == ["fix-1"]
    assert not os.path.exists(os.path.join(g.config, "state", "gateq.db"))
    assert '"pending_events": 0' in g.ok("status", "--json")


def test_zookeeper_down_is_one_line(zk_server, tmp_path):
    g = zk_gate(tmp_path, zk_server.hosts)
    g.change("nova", "fix-1")
    zk_server.stop()
    for args in (("event", "approved", "--project", "nova", "--change", "fix-1"),
                 ("results",), ("status",)):
        rc, out, err = g.gateq(*args)
        assert rc != 0 and out == "", (args, out, err)
        assert err.startswith(f"gateq: error: zookeeper {zk_server.hosts}: cannot connect"), err
        assert len(err.strip().splitlines()) == 1, err


def test_scheduler_without_zookeeper_is_one_line(tmp_path):
    g = Gate(tmp_path)
    rc, out, err = g.gateq("scheduler")
    assert rc != 0 and out == ""
    assert err.strip() == (f"gateq: error: {g.config}/gateq.yaml: gateq scheduler needs "
                           "zookeeper: in gateq.yaml (without it, run gateq serve)")
