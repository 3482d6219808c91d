"""Builds on SSH nodes end to end: the engine, real git, a real OpenSSH
server (tests/sshd_fixture.py) as each node, the CLI as a user drives it."""
from __future__ import annotations

import os
import time

from gate_fixture import Gate, wait_until
from sshd_fixture import processes_of, sshd  # noqa: F401  (the fixture)

NODE_JOB = """\
#!/bin/sh
set -eu
echo "user $(id -un) on $GATEQ_NODE"
echo "workspace $GATEQ_WORKSPACE"
echo "cwd $(pwd)"
echo "files $(ls | tr '\\n' ' ')"
[ -f "SLEEP-$GATEQ_CHANGE" ] && sleep "$(cat "SLEEP-$GATEQ_CHANGE")"
if ls FAIL-* >/dev/null 2>&1; then echo "tests failed"; exit 1; fi
echo "tests passed"
"""

ON_NODE = "- job: {name: on-node, run: jobs/node.sh, timeout: %(timeout)s, nodeset: {label: fedora-40}}\n"


def node_entry(server, name: str, known_hosts: str, slots: int = 1,
               labels: str = "[fedora-40, x86_64]") -> str:
    return (f"  - name: {name}\n    host: 127.0.0.1\n    port: {server.port}\n"
            f"    user: {server.user}\n    sshkey: {server.client_key}\n"
            f"    known-hosts: {known_hosts}\n    slots: {slots}\n    labels: {labels}\n"
            f"    keepalive: 1\n    connect-timeout: 5\n")


def node_gate(root, servers, timeout: int = 60, slots: int = 1, known_hosts=None) -> Gate:
    """A gate whose job runs on the nodes (one per server, builder1...)."""
    g = Gate(root, jobs=ON_NODE % {"timeout": timeout}, project_jobs=("on-node",))
    g.write_job("node.sh", NODE_JOB)
    entries = []
    for n, server in enumerate(servers, 1):
        path = os.path.join(g.root, f"known_hosts_{n}")
        if known_hosts is None:
            server.write_known_hosts(path)
        else:
            server.write_known_hosts(path, known_hosts(server))
        entries.append(node_entry(server, f"builder{n}", path, slots))
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write("nodes:\n" + "".join(entries))
    return g


def build_log(g: Gate, build: str) -> str:
    with open(os.path.join(g.config, "state", "logs", f"{build}.log")) as f:
        return f.read()


def test_a_gated_change_runs_on_the_node_as_its_user_and_lands(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd])
    g.change("nova", "a", {"a.txt": "a\n"})
    g.approve("nova", "a")
    g.run()
    assert g.landed() == ["a"]
    result, = g.results()
    job, = result["jobs"]
    log = build_log(g, job["build"])
    assert f"user {sshd.user} on builder1" in log
    home = os.path.expanduser(f"~{sshd.user}")
    assert f"workspace {home}/gateq-builds/{job['build']}." in log
    assert "/src/nova\n" in log.split("cwd ", 1)[1].split("\n", 1)[0] + "\n"
    assert "a.txt" in log and "tests passed" in log
    assert job["result"] == "success" and 0 < job["duration"] < 10
    workspace = log.split("workspace ", 1)[1].split("\n", 1)[0]
    assert not os.path.exists(workspace)                            # it went


def test_a_failing_job_on_a_node_fails_the_item(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd])
    g.change("nova", "a", {"FAIL": "1"})
    g.approve("nova", "a")
    g.run()
    assert g.landed() == []
    result, = g.results()
    assert (result["result"], result["reason"]) == ("failed", "job on-node failure")
    assert "tests failed" in build_log(g, result["jobs"][0]["build"])



TREE_JOB = """\
#!/bin/sh
sleep 4141 &
setsid sh -c 'sleep 4242' &
( trap '' TERM HUP INT; sleep 4343 ) &
sh -c 'sleep 4444 & exec sleep 4545' &
echo "tree started"
sleep 4646
"""


def test_a_timeout_on_the_node_kills_the_jobs_whole_process_tree_there(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd], timeout=2)
    g.write_job("node.sh", TREE_JOB)
    g.change("nova", "a")
    g.approve("nova", "a")
    began = time.monotonic()
    g.run()
    result, = g.results()
    assert (result["result"], result["reason"]) == ("failed", "job on-node timed-out")
    assert time.monotonic() - began < 20
    log = build_log(g, result["jobs"][0]["build"])
    assert "tree started" in log and "timed-out after 2." in log
    assert processes_of(sshd.user) == []         # nothing of the job is left on the node


def test_a_node_that_dies_mid_build_is_a_node_failure_and_the_build_runs_on_another(
        tmp_path, sshd):
    other = sshd.another()
    g = node_gate(tmp_path, [sshd, other])
    g.change("nova", "a", {"SLEEP": "2"})
    g.approve("nova", "a")
    run = g.cli_subprocess("run", "--until-idle")
    try:
        first = os.path.join(g.config, "state", "logs", "1-0-on-node.log")
        wait_until(lambda: os.path.exists(first) and " on builder1\n" in open(first).read(),
                   "the job to run on builder1", 30)
        sshd.kill()                               # the server and its sessions
        assert run.wait(60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert g.landed() == ["a"]
    job, = g.results()[0]["jobs"]
    assert (job["result"], job["attempts"], job["retried"]) == ("success", 1, ["1-0-on-node"])
    assert job["build"] == "1-0-on-node~2"
    lost = open(first).read()
    assert "=== node builder1 (" in lost and "node-failure" in lost
    assert "on node builder2" in build_log(g, job["build"])
    workspace = lost.split("workspace ", 1)[1].split("\n", 1)[0]
    # On the node, what the lost build ran saw its connection end: it is gone, with its workspace.
    wait_until(lambda: not os.path.exists(workspace), "the lost build's workspace to go", 10)
    wait_until(lambda: processes_of(sshd.user) == [], "the lost build's processes to go", 10)


def test_an_unknown_host_key_is_refused_in_one_line(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd], known_hosts=lambda server: "")
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    result, = g.results()
    assert result["result"] == "failed"
    reason = result["reason"]
    assert "\n" not in reason
    assert reason.startswith("job on-node node-failure: its node failed 4 times, last: node builder1")
    assert f"unknown host key {sshd.host_key_line.split()[0]} SHA256:" in reason
    assert "refusing to connect" in reason
    assert g.landed() == []


def test_a_changed_host_key_is_refused_in_one_line(tmp_path, sshd):
    impostor = sshd.another()                     # another server's key, for this one's address
    g = node_gate(tmp_path, [sshd],
                  known_hosts=lambda server: f"[127.0.0.1]:{server.port} {impostor.host_key_line}\n")
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    reason = g.results()[0]["reason"]
    assert "\n" not in reason and "host key changed: the server offers ssh-ed25519 SHA256:" in reason
    assert "refusing to connect" in reason


SLOT_JOB = """\
#!/bin/sh
echo "began $(date +%s%N)"
sleep 1
echo "ended $(date +%s%N)"
"""


def test_a_node_runs_at_most_its_slots_and_the_other_builds_wait_for_it(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd], slots=1)
    g.write_job("node.sh", SLOT_JOB)
    for ref in ("a", "b", "c"):
        g.change("nova", ref)
        g.propose("nova", ref)
    g.run()
    results = g.results("check")
    assert [r["result"] for r in results] == ["succeeded"] * 3
    spans = []
    for r in results:
        log = build_log(g, r["jobs"][0]["build"])
        spans.append(tuple(int(log.split(word + " ", 1)[1].split()[0]) for word in ("began", "ended")))
    spans.sort()
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans


EXPORT_JOB = """\
#!/bin/sh
set -eu
mkdir -p "$GATEQ_ARTIFACTS/pages"
echo "built on $GATEQ_NODE" > "$GATEQ_ARTIFACTS/pages/$GATEQ_CHANGE.html"
"""


def test_an_export_built_on_a_node_is_published_when_its_change_lands(tmp_path, sshd):
    g = node_gate(tmp_path, [sshd])
    with open(os.path.join(g.config, "layouts", "test.yaml"), "a") as f:
        f.write("- repository: {name: docs, type: files, keep: 5}\n"
                "- job: {name: docs, run: jobs/export.sh, export: docs, "
                "nodeset: {label: x86_64}}\n")
    layout = open(os.path.join(g.config, "layouts", "test.yaml")).read()
    with open(os.path.join(g.config, "layouts", "test.yaml"), "w") as f:
        f.write(layout.replace("gate: {jobs: [on-node]}", "gate: {jobs: [docs]}"))
    g.write_job("export.sh", EXPORT_JOB)
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    assert g.outcome() == {"a": "merged"}
    page = os.path.join(g.config, "publish", "docs", "snapshots", "1", "pages", "a.html")
    assert open(page).read() == "built on builder1\n"
