"""The gate end to end: real git repositories, real job processes, the CLI."""
import os
import signal
import subprocess
import time

from gate_fixture import Gate, git, wait_until


def test_parallel_changes_land_in_order_each_tested_on_its_future(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"a.txt": "a\n", "SLEEP": "1.5"})
    g.change("nova", "b", {"b.txt": "b\n", "SLEEP": "0.5"})
    g.change("nova", "c", {"c.txt": "c\n"})
    for ref in "abc":
        g.approve("nova", ref)
    g.run()
    assert g.landed() == ["a", "b", "c"]
    assert g.outcome() == {"a": "merged", "b": "merged", "c": "merged"}
    assert g.seen_chains("c") == ["nova:a nova:b nova:c"]
    files = open(os.path.join(g.seen, g.results()[2]["jobs"][0]["build"], "files-nova")).read().split()
    assert {"a.txt", "b.txt", "c.txt"} <= set(files)
    assert g.results()[2]["commit"] == g.tip()


def test_job_contract_environment_and_workspace(tmp_path):
    g = Gate(tmp_path, projects=("nova", "ceilometer"))
    g.change("nova", "n1")
    g.change("ceilometer", "c1")
    g.approve("nova", "n1")
    g.approve("ceilometer", "c1")
    g.run()
    build = g.results()[1]["jobs"][0]["build"]
    seen = os.path.join(g.seen, build)
    env = dict(line.split("=", 1) for line in open(os.path.join(seen, "env")).read().splitlines())
    assert env["GATEQ_PROJECT"] == "ceilometer" and env["GATEQ_CHANGE"] == "c1"
    assert env["GATEQ_BRANCH"] == "main" and env["GATEQ_PIPELINE"] == "gate"
    assert env["GATEQ_CHANGES"] == "nova:n1 ceilometer:c1"
    assert env["GATEQ_JOB"] == "check" and env["GATEQ_BUILD"] == build
    assert env["GATEQ_CONFIG_DIR"] == g.config
    assert open(os.path.join(seen, "cwd")).read().strip() == os.path.join(env["GATEQ_WORKSPACE"], "src", "ceilometer")
    assert "n1.txt" in open(os.path.join(seen, "files-nova")).read().split()
    log = os.path.join(g.config, "state", "logs", f"{build}.log")
    assert "tests passed" in open(log).read()


def test_failure_in_the_middle_is_ejected_and_the_rest_retested_without_it(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"a.txt": "a\n", "SLEEP": "1"})
    g.change("nova", "b", {"FAIL": "1"})
    g.change("nova", "c")
    for ref in "abc":
        g.approve("nova", ref)
    g.run()
    assert g.landed() == ["a", "c"]
    b = next(r for r in g.results() if r["change"] == "b")
    assert b["result"] == "failed" and b["reason"] == "job check failure" and b["commit"] is None
    assert g.seen_chains("c")[-1] == "nova:a nova:c"
    assert [r["change"] for r in g.results()] == ["a", "b", "c"]    # reported in queue order


def test_failure_at_head_and_two_failures(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"FAIL": "1"})
    g.change("nova", "b")
    g.change("nova", "c", {"FAIL": "1", "c.txt": "c"})
    g.change("nova", "d")
    for ref in "abcd":
        g.approve("nova", ref)
    g.run()
    assert g.landed() == ["b", "d"]
    assert g.outcome() == {"a": "failed", "b": "merged", "c": "failed", "d": "merged"}
    assert {"b.txt", "d.txt"} <= g.seen_files("d") and "c.txt" not in g.seen_files("d")


def test_merge_conflict_is_ejected_without_running_jobs(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"README": "one\n"})
    g.change("nova", "b", {"README": "two\n"})
    g.change("nova", "c")
    for ref in "abc":
        g.approve("nova", ref)
    g.run()
    b = next(r for r in g.results() if r["change"] == "b")
    assert b["result"] == "merge-conflict"
    assert "README" in b["reason"]
    assert [(j["name"], j["result"], j["build"]) for j in b["jobs"]] == [("check", "skipped", None)]
    assert g.seen_chains("b") == []
    assert g.landed() == ["a", "c"]


def test_dependent_change_is_dequeued_when_its_parent_fails(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "parent", {"FAIL": "1"})
    g.change("nova", "child", {"child.txt": "x"}, base="parent")
    g.change("nova", "other")
    for ref in ("parent", "child", "other"):
        g.approve("nova", ref)
    g.run()
    child = next(r for r in g.results() if r["change"] == "child")
    assert child["result"] == "dequeued"
    assert child["reason"].startswith("depends on nova:parent which failed")
    assert g.landed() == ["other"]


def test_non_voting_job_never_fails_an_item(tmp_path):
    g = Gate(tmp_path, jobs="- job: {name: lint, run: jobs/lint.sh, voting: false}\n",
             project_jobs=("check", "lint"))
    g.write_job("lint.sh", "#!/bin/sh\necho style problems; exit 1\n")
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    r = g.results()[0]
    assert r["result"] == "merged"
    assert {j["name"]: j["result"] for j in r["jobs"]} == {"check": "success", "lint": "failure"}


def test_timeout_fails_the_item_and_kills_the_job(tmp_path):
    g = Gate(tmp_path, timeout=1)
    g.change("nova", "slow", {"SLEEP": "30"})
    g.change("nova", "fast")
    g.approve("nova", "slow")
    g.approve("nova", "fast")
    started = time.monotonic()
    g.run()
    assert time.monotonic() - started < 20
    slow = g.results()[0]
    assert slow["result"] == "failed" and slow["jobs"][0]["result"] == "timed-out"
    assert g.landed() == ["fast"]


def test_dequeue_and_promote_take_effect_in_the_order_recorded(tmp_path):
    g = Gate(tmp_path)
    for ref in "abcd":
        g.change("nova", ref)
        g.approve("nova", ref)
    g.ok("promote", "--pipeline", "gate", "--project", "nova", "--change", "c")
    g.ok("dequeue", "--pipeline", "gate", "--project", "nova", "--change", "b")
    g.run()
    assert g.landed() == ["c", "a", "d"]
    b = next(r for r in g.results() if r["change"] == "b")
    assert b["result"] == "dequeued" and b["reason"] == "dequeued by request"


def test_branch_moved_outside_gateq_rebuilds_the_queue_on_the_new_tip(tmp_path):
    g = Gate(tmp_path)
    outside = g.work("nova") + "-outside"
    git("clone", "-q", g.bare("nova"), outside, cwd=g.root)
    mover = (f"cd {outside} && [ ! -f moved ] && echo x > moved && git add moved && "
             f"git -c user.name=o -c user.email=o@x commit -qm outside && git push -q origin HEAD:main || true\n")
    g.change("nova", "a", {"a.txt": "a", "MOVE_BRANCH": mover})
    g.change("nova", "b")
    g.approve("nova", "a")
    g.approve("nova", "b")
    g.run()
    assert g.landed() == ["a", "b"]
    subjects = git("log", "--format=%s", "main", cwd=g.bare("nova")).splitlines()
    assert "outside" in subjects                       # nothing outside gateq was lost
    assert len(g.seen_chains("a")) == 2                 # re-tested on the new tip


def test_new_revision_replaces_the_old_item(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"v": "1"})
    g.approve("nova", "a")
    rev2 = g.change("nova", "a", {"v": "2"})
    g.approve("nova", "a")
    g.run()
    results = g.results()
    assert results[0]["result"] == "dequeued" and results[0]["reason"].startswith("superseded")
    assert results[1]["result"] == "merged" and results[1]["revision"] == rev2
    assert git("show", "main:v", cwd=g.bare("nova")) == "2"


def test_check_pipeline_tests_alone_and_only_reports(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a")
    g.change("nova", "b", {"FAIL": "1"})
    tip = g.tip()
    g.propose("nova", "a")
    g.propose("nova", "b")
    g.run()
    assert g.outcome("check") == {"a": "succeeded", "b": "failed"}
    assert g.tip() == tip
    assert g.seen_chains("b") == ["nova:b"]


def test_events_recorded_without_an_engine_are_kept_and_status_shows_them(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a")
    g.approve("nova", "a")
    assert "events waiting for the engine: 1" in g.ok("status")
    g.run()
    assert g.landed() == ["a"]
    rc, out, err = g.gateq("event", "approved", "--project", "nova", "--change", "nope")
    assert rc == 2 and err.strip() == "gateq: error: project nova: no ref nope"
    rc, out, err = g.gateq("event", "approved", "--project", "glance", "--change", "a")
    assert rc == 2 and "unknown project 'glance'" in err


def test_kill_and_restart_in_the_middle_of_a_run(tmp_path):
    g = Gate(tmp_path)
    for ref in "abc":
        g.change("nova", ref, {f"{ref}.txt": ref, "SLEEP": "1"})
        g.approve("nova", ref)
    proc = g.cli_subprocess("serve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.listdir(g.seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(g.seen), "no build started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    g.run()
    assert g.landed() == ["a", "b", "c"]
    assert [r["change"] for r in g.results()] == ["a", "b", "c"]


def test_serve_stops_cleanly_on_sigterm(tmp_path):
    g = Gate(tmp_path)
    proc = g.cli_subprocess("serve", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1)
    g.change("nova", "a")
    g.approve("nova", "a")
    deadline = time.monotonic() + 30
    while g.landed() != ["a"] and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert g.landed() == ["a"]



def test_a_job_script_that_cannot_start_fails_the_item_not_the_engine(tmp_path):
    g = Gate(tmp_path)
    g.write_job("check.sh", "this script has no interpreter line\n")
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    r = g.results()[0]
    assert r["result"] == "failed" and r["reason"] == "job check failure"
    log = open(os.path.join(g.config, "state", "logs", f"{r['jobs'][0]['build']}.log")).read()
    assert "cannot start" in log


def test_noop_lands_untested_only_when_the_layout_says_so(tmp_path):
    g = Gate(tmp_path, project_jobs=("noop",))
    g.change("nova", "docs")
    g.approve("nova", "docs")
    g.run()
    assert g.landed() == ["docs"]
    result, = g.results()
    assert [(j["name"], j["result"]) for j in result["jobs"]] == [("noop", "success")]
    assert os.listdir(g.seen) == []                 # nothing ran


def test_a_busy_gate_checkpoints_and_a_restart_replays_only_what_follows(tmp_path):
    """checkpoint.interval 4: the journal is cut while items are still queued;
    an engine killed then restarts from that busy checkpoint and lands every
    change exactly once, in order."""
    g = Gate(tmp_path)
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write("checkpoint:\n  interval: 4\n")
    refs = [f"c{i}" for i in range(6)]
    for ref in refs:
        g.change("nova", ref, {f"{ref}.txt": ref, "SLEEP": "0.6"})
        g.approve("nova", ref)
    db = os.path.join(g.config, "state", "gateq.db")
    engine = g.cli_subprocess("serve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def busy_checkpoint():
        import sqlite3
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT seq, data FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        return row and '"items": [{' in row[1]
    try:
        wait_until(busy_checkpoint, "a checkpoint taken while items are queued")
    finally:
        engine.kill()
        engine.wait()
    g.run()
    assert g.landed() == refs
    assert g.outcome() == {ref: "merged" for ref in refs}


def test_results_give_each_job_its_own_duration_and_times(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "a", {"SLEEP": "1"})
    g.approve("nova", "a")
    g.run()
    job, = g.results()[0]["jobs"]
    assert 1.0 <= job["duration"] < 3.0
    assert job["started_at"] <= job["finished_at"]
    assert job["finished_at"] - job["started_at"] >= job["duration"] - 0.5


def test_a_project_removed_from_the_layout_while_queued_is_dequeued_at_the_next_start(tmp_path):
    """The layout changed while the engine was down: the items it can no
    longer run are dequeued with the reason; the others go on."""
    g = Gate(tmp_path, projects=("nova", "ceilometer"))
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write("checkpoint:\n  interval: 1\n")         # the queued item is in a checkpoint
    g.change("ceilometer", "c1", {"SLEEP": "30"})
    g.change("nova", "n1")
    g.approve("ceilometer", "c1")
    g.approve("nova", "n1")
    engine = g.cli_subprocess("serve", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(os.listdir(g.seen)) == 2, "both builds to start")
    finally:
        engine.kill()
        engine.wait()
    layout = os.path.join(g.config, "layouts", "test.yaml")
    text = open(layout).read()
    with open(layout, "w") as f:
        f.write(text[:text.index("- project:\n    name: ceilometer")])
    g.run()
    assert g.outcome() == {"c1": "dequeued", "n1": "merged"}
    c1 = next(r for r in g.results() if r["change"] == "c1")
    assert c1["reason"] == ("dequeued when the engine started: project ceilometer is no longer "
                            "in the layout")
    assert g.landed("nova") == ["n1"] and g.landed("ceilometer") == []
