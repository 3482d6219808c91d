"""Nothing a job starts outlives its build: not a `setsid` process, not a
double-forked daemon, not after the job exits, is cancelled or times out,
nor after its engine is SIGKILLed; with bwrap and without.

Every check looks into /proc for processes carrying the build's own tag
(executor tests) or naming the gate's workspaces (gate tests), not for the
executor's marker, so a marker that went missing cannot pass them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gate_fixture import Gate, logged
from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from jobs_fixture import (SANDBOXES, alive, cmdline, run_until_done, sandbox_for,
                          session_and_parent, spec_for, tagged, wait_for, write_script)

# Leaves two processes behind that left its session: one through setsid,
# one daemonised (double fork, then setsid); once the test has seen them
# (in a pid namespace they would die with the job at once), does $THEN.
LEAVER = """\
setsid sleep 1000 &
( setsid sh -c 'exec sleep 1001' & )
touch ready
while [ ! -e seen ]; do sleep 0.01; done
$THEN
"""

ENDINGS = {          # how the build ends: what the job does next, its timeout, what it reports
    "exits": ("exit 0", 10, JobResult.SUCCESS),
    "is cancelled": ("sleep 100", 10, JobResult.CANCELLED),
    "times out": ("sleep 100", 1, JobResult.TIMED_OUT),
}


@pytest.fixture(params=SANDBOXES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def executor(mode):
    executor = LocalExecutor(sandbox=sandbox_for(mode), kill_grace=0.5)
    yield executor
    executor.shutdown()


def escaped(spec) -> dict[str, int]:
    """The build's `sleep 1000` and `sleep 1001`, once each leads a session of its own."""
    found = {}
    for pid in tagged(spec):
        argv = cmdline(pid)
        if argv[:1] == ["sleep"] and session_and_parent(pid)[0] == pid:
            found[argv[1]] = pid
    return found


@pytest.mark.parametrize("ending", ENDINGS)
def test_what_a_job_left_outside_its_session_dies_with_the_build(tmp_path, executor, ending):
    then, timeout, expected = ENDINGS[ending]
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", LEAVER),
                    timeout=timeout, env={"THEN": then})
    executor.start(spec)
    wait_for((tmp_path / "ready").exists, "the job to start its leftovers")
    left = wait_for(lambda: len(found := escaped(spec)) == 2 and found, "setsid and a daemon")
    daemon_parent = session_and_parent(left["1001"])[1]
    assert cmdline(daemon_parent)[1:2] != [spec.script]      # reparented: a double fork
    (tmp_path / "seen").touch()
    if ending == "is cancelled":
        executor.cancel("b")

    finished = run_until_done(executor)["b"]

    assert finished.result is expected
    assert tagged(spec) == []           # as soon as it is reported: no wait
    assert not any(alive(pid) for pid in left.values())


HIDER = """\
( env -i setsid sleep "$HIDDEN" & )
touch ready
while [ ! -e seen ]; do sleep 0.01; done
"""


def test_a_process_that_drops_the_marker_dies_only_in_a_pid_namespace(tmp_path, executor, mode):
    """What the module docstring of gateq/processes.py says it cannot catch
    without bwrap: a double-forked daemon in its own session with an empty
    environment. In a pid namespace it dies all the same."""
    hidden = f"1002.{uuid.uuid4().int % 10**9}"
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", HIDER), env={"HIDDEN": hidden})
    executor.start(spec)

    def hiders() -> list[int]:
        return [int(p) for p in filter(str.isdigit, os.listdir("/proc"))
                if cmdline(int(p)) == ["sleep", hidden] and alive(int(p))]
    wait_for((tmp_path / "ready").exists, "the job to start")
    wait_for(hiders, "the hidden daemon")
    (tmp_path / "seen").touch()
    try:
        assert run_until_done(executor)["b"].result is JobResult.SUCCESS
        if mode == "bwrap":
            assert hiders() == []
        else:
            assert len(hiders()) == 1, "without a pid namespace it escapes: documented"
    finally:
        for pid in hiders():
            os.kill(pid, signal.SIGKILL)


# Its main process, stopped, waits for the hidden one to say it was stopped too.
TERM_HIDER = """\
( env -i setsid sh -c 'trap "echo terminated > $0/hidden-said; exit 0" TERM
                      touch "$0/hidden-ready"; sleep 100 & wait' "$PWD" & )
trap 'until [ -e hidden-said ]; do sleep 0.01; done; exit 0' TERM
touch ready
sleep 100 &
wait
"""


def test_a_cancel_gives_every_process_of_the_pid_namespace_its_grace(tmp_path):
    """Even one without the marker, outside the job's session, gets SIGTERM
    first: the namespace is the build. (As before, the grace lasts as long
    as the job's main process: when it exits, whatever is left is killed.)"""
    executor = LocalExecutor(sandbox=sandbox_for("bwrap"), kill_grace=5)
    spec = spec_for(tmp_path, "b", write_script(tmp_path, "job", TERM_HIDER))
    executor.start(spec)
    wait_for((tmp_path / "ready").exists, "the job to start")
    wait_for((tmp_path / "hidden-ready").exists, "the hidden process to start")
    try:
        executor.cancel("b")
        finished = run_until_done(executor)["b"]
    finally:
        executor.shutdown()

    assert finished.result is JobResult.CANCELLED and finished.duration < 4
    assert (tmp_path / "hidden-said").read_text() == "terminated\n"


# -- gates -----------------------------------------------------------------------

# LEAVER for a gate's job: it waits until it sees its two leftovers lead
# sessions of their own (from inside: in a pid namespace it knows no host
# pid), says so in $SEEN_DIR/left, then does %(then)s.
GATE_LEAVER = """\
#!/bin/sh
cat /proc/$PPID/comm > "$SEEN_DIR/parent"
setsid sleep 1000 &
( setsid sh -c 'exec sleep 1001' & )
left() {
    for dir in /proc/[0-9]*; do
        read -r pid comm _ _ _ sid _ < "$dir/stat" 2>/dev/null || continue
        [ "$comm" = "(sleep)" ] && [ "$pid" = "$sid" ] && tr '\\0' '\\n' < "$dir/environ" 2>/dev/null |
            grep -qx "GATEQ_WORKSPACE=$GATEQ_WORKSPACE" && echo "$pid"
    done
}
until [ "$(left | wc -l)" -eq 2 ]; do sleep 0.01; done
echo "$(left | wc -l) left" > "$SEEN_DIR/left"
%(then)s
"""

# Leaves its leftovers and waits, the first time; passes the second.
ONCE_JOB = (GATE_LEAVER % {"then": 'touch "$SEEN_DIR/first"; sleep 1002'}).replace(
    "#!/bin/sh\n", '#!/bin/sh\n[ -e "$SEEN_DIR/first" ] && { echo passed; exit 0; }\n', 1)


def build_processes(g: Gate) -> list[int]:
    """Live processes of any build of this gate (their environment names its workspace)."""
    marker = f"GATEQ_WORKSPACE={os.path.join(g.config, 'state', 'work')}/".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if any(v.startswith(marker) for v in f.read().split(b"\0")) and alive(int(pid)):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def gate_with_sandbox(tmp_path: Path, mode: str, job: str) -> Gate:
    if mode == "bwrap":
        sandbox_for(mode)               # skips (or fails in CI) without bwrap
    g = Gate(tmp_path)
    g.write_job("check.sh", job)
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write(f"  sandbox: {mode}\n")             # the fixture's last section is executor:
    return g


def test_a_build_outlives_its_killed_engine_only_unsandboxed_and_the_next_engine_kills_it(
        tmp_path, mode):
    g = gate_with_sandbox(tmp_path, mode, ONCE_JOB)
    g.change("nova", "a")
    g.approve("nova", "a")
    engine = g.cli_subprocess("run", "--until-idle", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for(Path(g.seen, "first").exists, "the build to start", limit=60)
    build = wait_for(lambda: len(found := build_processes(g)) >= 4 and found, "the build's processes")
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    if mode == "bwrap":                 # --die-with-parent: the sandbox dies with its engine
        wait_for(lambda: build_processes(g) == [], "the sandboxed build to die with its engine")
    else:
        assert all(alive(pid) for pid in build)

    again = g.cli_subprocess("run", "--until-idle", stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    _, err = again.communicate(timeout=120)

    assert again.returncode == 0, err
    killed = ["killed build 1-0-check left running by a previous engine"]
    assert logged(err, "WARNING") == (killed if mode == "none" else [])
    assert not any(alive(pid) for pid in build)
    assert g.outcome() == {"a": "merged"}
    assert build_processes(g) == []


def test_a_timeout_kills_everything_the_job_spawned(tmp_path, mode):
    g = gate_with_sandbox(tmp_path, mode, GATE_LEAVER % {"then": "sleep 100"})
    with open(os.path.join(g.config, "layouts", "test.yaml")) as f:
        layout = f.read().replace("timeout: 60", "timeout: 1")
    with open(os.path.join(g.config, "layouts", "test.yaml"), "w") as f:
        f.write(layout)
    g.change("nova", "slow")
    g.approve("nova", "slow")

    g.run()

    r = g.results()[0]
    assert r["result"] == "failed" and r["jobs"][0]["result"] == "timed-out"
    assert Path(g.seen, "parent").read_text().strip() == ("bwrap" if mode == "bwrap" else "python")
    assert Path(g.seen, "left").read_text() == "2 left\n"
    assert build_processes(g) == []


# -- an engine run by a user other than root ------------------------------------

def test_an_unprivileged_engine_leaves_nothing_of_its_builds(mode):
    from test_sandbox import NOBODY, nobody_directory
    with nobody_directory() as root:
        g = gate_with_sandbox(Path(root), mode, GATE_LEAVER % {"then": "exit 0"})
        g.change("nova", "a")
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", root], check=True)
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
                     sys.executable, "-m", "gateq.cli", "-c", g.config]
        for args in (["event", "approved", "--project", "nova", "--change", "a"],
                     ["run", "--until-idle"]):
            done = subprocess.run(as_nobody + args, cwd=root, env={**os.environ, "HOME": root},
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr

        assert g.outcome() == {"a": "merged"}
        assert Path(g.seen, "left").read_text() == "2 left\n"
        assert build_processes(g) == []
