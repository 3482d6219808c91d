"""Builds under bubblewrap: what gateq published is read-only to them, and
they still run, time out, get cancelled and are cleaned up as before.

Real bwrap, real job processes, real rpm tooling; in CI a missing bwrap
fails these tests instead of skipping them."""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gate_fixture import Gate, logged
from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from gateq.sandbox import Sandbox, probe
from test_executor import (SPAWNER, alive, assert_all_gone, log_text, run_until_done, spec_for,
                           wait_for_pids, write_script)

NOBODY = 65534


@pytest.fixture(autouse=True)
def bwrap():
    if shutil.which("bwrap") is None:
        message = "needs bwrap (Debian: apt-get install bubblewrap)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the damage these jobs try needs a root engine (CI runs as root)")


def rpm_gate_helpers():
    """test_publish_gate's rdo layout and helpers, once the rpm tools are known
    to be there (importing it earlier would skip this whole module without them)."""
    from rpm_fixture import require_tools
    require_tools()
    import test_publish_gate
    return test_publish_gate


def set_sandbox(g: Gate, mode: str) -> None:
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write(f"  sandbox: {mode}\n")             # the fixture's last section is executor:


# -- damage from inside a build ---------------------------------------------

# Runs after rpm-build in a change holding a VANDAL file; tries to damage
# what gateq published through the build's view and directly, and reports
# how each attempt went in $SEEN_DIR/vandal-<build>, one line each.
VANDAL_JOB = """\
#!/bin/sh
[ -f VANDAL ] || exit 0
report="$SEEN_DIR/vandal-$GATEQ_BUILD"
attempt() {
    if said=$(sh -c "$2" 2>&1); then echo "$1: written"; else echo "$1: refused: $said"; fi >> "$report"
}
pkg=$(ls "$GATEQ_REPOS"/rdo/Packages/*/nova-*.rpm | head -n 1)
published=$(ls "$PUBLISH"/rdo/current/Packages/*/*.rpm | head -n 1)
blob=$(find "$STATE/cas/sha256" -type f | head -n 1)
attempt "overwrite a package of the view" "echo damage > $pkg"
attempt "delete a package through its bucket link" "rm -f $pkg"
attempt "delete a bucket link of the view" "rm -f $(dirname "$pkg")"
attempt "overwrite the view's metadata" "echo damage > $GATEQ_REPOS/rdo/repodata/repomd.xml"
attempt "overwrite a file of the artifact store" "echo damage > $blob"
attempt "create a file in the state directory" "echo damage > $STATE/damage"
attempt "create a file in the publish root" "echo damage > $PUBLISH/damage"
attempt "overwrite a published package" "echo damage > $published"
attempt "write into the workspace" "echo scratch > $GATEQ_WORKSPACE/scratch"
"""

VANDAL_LAYOUT = """\
- job:
    name: vandal
    run: jobs/vandal.sh
    dependencies: [rpm-build]
    requires: [rdo]
    vars: {SEEN_DIR: %(seen)s, STATE: %(state)s, PUBLISH: %(publish)s}
"""

ATTEMPTS = ["overwrite a package of the view", "delete a package through its bucket link",
            "delete a bucket link of the view", "overwrite the view's metadata",
            "overwrite a file of the artifact store", "create a file in the state directory",
            "create a file in the publish root", "overwrite a published package"]


def vandal_gate(root: str, sandbox: str) -> Gate:
    """test_publish_gate's rdo gate (nova, ceilometer; rpm-build, install)
    plus the vandal job after rpm-build."""
    helpers = rpm_gate_helpers()
    config = os.path.join(root, "config")
    layout = helpers.LAYOUT % {"packages": "nova ceilometer", "keep": 3} + VANDAL_LAYOUT % {
        "seen": os.path.join(root, "seen"), "state": os.path.join(config, "state"),
        "publish": os.path.join(config, "publish")}
    g = Gate(root, projects=("nova", "ceilometer"), jobs=layout,
             project_jobs=("rpm-build", "install", "vandal"), timeout=300)
    for job in ("rpm-build.sh", "rpm-install-check.sh"):
        shutil.copy(os.path.join(helpers.HERE, "jobs", job), os.path.join(g.config, "jobs", job))
    g.write_job("vandal.sh", VANDAL_JOB)
    set_sandbox(g, sandbox)
    return g


def vandal_report(g: Gate) -> dict[str, str]:
    """What the vandal job's one build reported, by attempt."""
    reports = glob.glob(os.path.join(g.seen, "vandal-*"))
    assert len(reports) == 1, reports
    lines = Path(reports[0]).read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines)


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def damaged_files(g: Gate) -> list[str]:
    """Published files missing or unlike their manifest's sha256, in every
    snapshot, and stored files unlike the sha256 they are stored under."""
    damaged = []
    snapshots = os.path.join(g.config, "publish", "rdo", "snapshots")
    for manifest_path in sorted(glob.glob(os.path.join(snapshots, "*", "manifest.json"))):
        with open(manifest_path) as f:
            manifest = json.load(f)
        for artifact in manifest["artifacts"]:
            path = os.path.join(os.path.dirname(manifest_path), artifact["path"])
            if not os.path.isfile(path) or sha256(path) != artifact["sha256"]:
                damaged.append(path)
    blobs = os.path.join(g.config, "state", "cas", "sha256")
    for path in glob.glob(os.path.join(blobs, "*", "*")):
        name = os.path.relpath(path, blobs).replace(os.sep, "")
        if sha256(path) != name:
            damaged.append(path)
    return damaged


def published_packages(g: Gate) -> set[str]:
    from rpm_fixture import repoquery
    return {nevra.rsplit("-", 2)[0] for nevra in repoquery(os.path.join(g.config, "publish", "rdo", "current"))}


def test_a_root_job_cannot_damage_the_store_or_the_published_snapshots(tmp_path):
    needs_root()
    g = vandal_gate(str(tmp_path), "bwrap")
    rpm_gate_helpers().import_packages(g)
    g.change("nova", "vandal", {"VANDAL": "1"})
    g.approve("nova", "vandal")
    g.run()

    report = vandal_report(g)
    assert list(report) == ATTEMPTS + ["write into the workspace"]
    for attempt in ATTEMPTS:
        assert report[attempt].startswith("refused: ") and "Read-only file system" in report[attempt], \
            f"{attempt}: {report[attempt]}"
    assert report["write into the workspace"] == "written"
    assert g.outcome()["vandal"] == "merged"          # the export and the install still worked
    assert "vandal" in {c["change"] for c in rpm_gate_helpers().current_manifest(g)["changes"]}
    assert damaged_files(g) == []
    assert published_packages(g) == {"nova", "ceilometer"}
    assert not os.path.exists(os.path.join(g.config, "state", "damage"))
    assert not os.path.exists(os.path.join(g.config, "publish", "damage"))


def test_without_the_sandbox_the_same_job_damages_them(tmp_path):
    """The test above can fail: unsandboxed, every attempt succeeds."""
    needs_root()
    g = vandal_gate(str(tmp_path), "none")
    rpm_gate_helpers().import_packages(g)
    g.change("nova", "vandal", {"VANDAL": "1"})
    g.approve("nova", "vandal")
    g.gateq("run", "--until-idle")          # how the gate copes with the damage is not the point

    report = vandal_report(g)
    assert report == {attempt: "written" for attempt in ATTEMPTS + ["write into the workspace"]}
    assert damaged_files(g) != []
    assert os.path.exists(os.path.join(g.config, "state", "damage"))


# -- a gate run by a user other than root -------------------------------------

@pytest.fixture
def nobody_dir():
    """A directory the unprivileged user owns (pytest's tmp_path is root's only)."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    root = tempfile.mkdtemp(prefix="gateq-sandbox-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def as_nobody(g: Gate, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
         sys.executable, "-m", "gateq.cli", "-c", g.config, *args],
        cwd=g.root, env={**os.environ, "HOME": g.root}, capture_output=True, text=True, timeout=600)


def test_an_unprivileged_engine_sandboxes_its_builds_and_dnf_installs_in_them(nobody_dir):
    """bwrap works without root here (user namespaces), and inside it
    rpm-install-check.sh's own `unshare --map-root-user` still runs dnf."""
    g = vandal_gate(nobody_dir, "bwrap")
    helpers = rpm_gate_helpers()
    g.change("nova", "import-nova", {"nova.spec": helpers.spec("nova", "12.0.0"), "nova.conf": "[nova]\n"})
    g.change("ceilometer", "import-ceilometer", {
        "ceilometer.spec": helpers.spec("ceilometer", "9.0.0", "Requires: nova >= 12.0.0"),
        "ceilometer.conf": "[ceilometer]\n"})
    g.change("nova", "vandal", {"VANDAL": "1"})
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", nobody_dir], check=True)
    for project, change in (("nova", "import-nova"), ("ceilometer", "import-ceilometer"),
                            ("nova", "vandal")):
        done = as_nobody(g, "event", "approved", "--project", project, "--change", change)
        assert done.returncode == 0, done.stderr

    done = as_nobody(g, "run", "--until-idle")

    assert done.returncode == 0, done.stderr
    assert g.outcome() == {"import-nova": "merged", "import-ceilometer": "merged", "vandal": "merged"}
    report = vandal_report(g)
    assert [a for a in ATTEMPTS if not report[a].startswith("refused: ")] == []
    for attempt in ("delete a package through its bucket link", "create a file in the state directory",
                    "create a file in the publish root"):     # what nobody could do unsandboxed
        assert "Read-only file system" in report[attempt], report[attempt]
    assert report["write into the workspace"] == "written"
    assert damaged_files(g) == []
    assert published_packages(g) == {"nova", "ceilometer"}


# -- processes: timeouts, engine crashes --------------------------------------

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


SPAWNING_JOB = """\
#!/bin/sh
cat /proc/$PPID/comm > "$SEEN_DIR/parent"
sleep 100 &
echo $! > "$SEEN_DIR/pids.tmp"
echo $$ >> "$SEEN_DIR/pids.tmp"
mv "$SEEN_DIR/pids.tmp" "$SEEN_DIR/pids"
sleep 100
"""


def test_a_timeout_kills_everything_the_job_spawned_in_the_sandbox(tmp_path):
    g = Gate(tmp_path, timeout=1)
    g.write_job("check.sh", SPAWNING_JOB)
    g.change("nova", "slow")
    g.approve("nova", "slow")
    started = time.monotonic()
    g.run()

    assert time.monotonic() - started < 20
    r = g.results()[0]
    assert r["result"] == "failed" and r["jobs"][0]["result"] == "timed-out"
    assert Path(g.seen, "parent").read_text().strip() == "bwrap"     # it ran sandboxed
    assert_all_gone([int(p) for p in Path(g.seen, "pids").read_text().split()])
    assert build_processes(g) == []


ONCE_JOB = """\
#!/bin/sh
if [ ! -e "$SEEN_DIR/first" ]; then
    cat /proc/$PPID/comm > "$SEEN_DIR/parent"
    sleep 100 &
    printf '%s\\n%s\\n' $$ $! > "$SEEN_DIR/first.tmp"
    mv "$SEEN_DIR/first.tmp" "$SEEN_DIR/first"
    wait
fi
echo passed
"""


def test_a_sandboxed_build_left_by_a_killed_engine_is_killed_at_the_next_start(tmp_path):
    g = Gate(tmp_path)
    g.write_job("check.sh", ONCE_JOB)
    g.change("nova", "a")
    g.approve("nova", "a")
    engine = g.cli_subprocess("run", "--until-idle", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    pids = wait_for_pids(Path(g.seen, "first"), 2, limit=30)
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    assert all(alive(pid) for pid in pids)        # the build outlived its engine
    assert Path(g.seen, "parent").read_text().strip() == "bwrap"

    again = g.cli_subprocess("run", "--until-idle", stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    _, err = again.communicate(timeout=60)

    assert again.returncode == 0, err
    assert logged(err, "WARNING") == ["killed build 1-0-check left running by a previous engine"]
    assert_all_gone(pids)
    assert g.outcome() == {"a": "merged"}
    assert build_processes(g) == []


# -- the executor with a sandbox ---------------------------------------------

@pytest.fixture
def sandboxed(tmp_path):
    """An executor whose builds may write only under tmp_path/work (and the rest of the host)."""
    protected = tmp_path / "state"
    (protected / "work").mkdir(parents=True)
    executor = LocalExecutor(sandbox=Sandbox(probe(), (str(protected),)), kill_grace=0.3)
    yield executor
    executor.shutdown()


def test_the_log_and_exit_status_are_those_of_the_job(tmp_path, sandboxed):
    script = write_script(tmp_path, "job", "echo hello out\necho hello err >&2\nexit 3\n")
    sandboxed.start(spec_for(tmp_path, "b", script))

    finished = run_until_done(sandboxed)["b"]

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, 3)
    lines = log_text(tmp_path, "b").splitlines()
    assert lines[1:3] == ["hello out", "hello err"]
    assert lines[3].startswith("=== build b failure after ")


def test_only_the_builds_own_paths_are_writable(tmp_path, sandboxed):
    state = tmp_path / "state"
    workspace = state / "work" / "b"
    (workspace / "repos").mkdir(parents=True)
    (state / "store").write_text("stored\n")
    script = write_script(tmp_path, "job", f"""\
        for target in {workspace}/out {workspace}/repos/out {state}/store {state}/work/other; do
            if echo x > "$target"; then echo "$target: written"; fi
        done
        """.replace("        ", ""))
    spec = spec_for(tmp_path, "b", script)
    sandboxed.start(dataclasses.replace(spec, cwd=str(workspace), writable=(str(workspace),),
                                        readonly=(str(workspace / "repos"),)))

    assert run_until_done(sandboxed)["b"].result is JobResult.SUCCESS
    log = log_text(tmp_path, "b")
    assert f"{workspace}/out: written" in log
    assert log.count("Read-only file system") == 3
    assert (state / "store").read_text() == "stored\n"


def test_a_cancelled_job_gets_its_grace_period(tmp_path):
    executor = LocalExecutor(sandbox=Sandbox(probe(), ()), kill_grace=5)
    script = write_script(tmp_path, "job", """\
        trap 'echo stopping; sleep 0.3; echo stopped; exit 0' TERM
        echo $$ > pids
        sleep 100 &
        wait
        """.replace("        ", ""))
    executor.start(spec_for(tmp_path, "b", script))
    wait_for_pids(tmp_path / "pids", 1)

    executor.cancel("b")
    finished = run_until_done(executor)["b"]

    assert finished.result is JobResult.CANCELLED
    assert finished.duration < 4                      # it ended by itself, not by SIGKILL
    log = log_text(tmp_path, "b")
    assert "stopping\nstopped\n" in log
    executor.shutdown()


def test_a_cancelled_job_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path, sandboxed):
    script = write_script(tmp_path, "job", "trap '' TERM\n" + SPAWNER)
    sandboxed.start(spec_for(tmp_path, "b", script))
    pids = wait_for_pids(tmp_path / "pids", 3)

    sandboxed.cancel("b")
    finished = run_until_done(sandboxed, limit=3)["b"]

    assert finished.result is JobResult.CANCELLED
    assert finished.duration >= 0.3
    assert_all_gone(pids)


@pytest.mark.parametrize("body, mode, reason", [
    (None, 0o755, "No such file or directory"),
    ("#!/bin/sh\ntrue\n", 0o644, "Permission denied"),
    ("this script has no interpreter line\n", 0o755, "Exec format error"),
])
def test_a_script_that_cannot_start_fails_with_the_reason_in_its_log(tmp_path, sandboxed,
                                                                      body, mode, reason):
    script = tmp_path / "job"
    if body is not None:
        script.write_text(body)
        script.chmod(mode)
    sandboxed.start(spec_for(tmp_path, "b", str(script)))

    finished = run_until_done(sandboxed)["b"]

    assert (finished.result, finished.returncode) == (JobResult.FAILURE, None)
    log = log_text(tmp_path, "b")
    assert f"cannot start {script}: " in log and reason in log


# -- where bwrap cannot work --------------------------------------------------

def without_namespaces(*argv: str, cwd: str) -> subprocess.CompletedProcess:
    """Run `argv` where bwrap cannot create namespaces: as an unprivileged
    user in a user namespace that may create no further ones."""
    return subprocess.run(
        ["bwrap", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns",
         "--dev-bind", "/", "/", "--", *argv], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_auto_runs_builds_unsandboxed_with_one_warning_where_bwrap_cannot_work(tmp_path):
    g = Gate(tmp_path)
    g.write_job("check.sh", "#!/bin/sh\ncat /proc/$PPID/comm > \"$SEEN_DIR/parent-$GATEQ_BUILD\"\n")
    for ref in ("a", "b"):
        g.change("nova", ref)
        g.approve("nova", ref)

    done = without_namespaces(sys.executable, "-m", "gateq.cli", "-c", g.config, "run", "--until-idle",
                              cwd=g.root)

    assert done.returncode == 0, done.stderr
    warning, = logged(done.stderr, "WARNING")
    assert warning.startswith("builds run without a sandbox, so a job can damage the artifact "
                              "store and published snapshots: bwrap cannot create its sandbox: ")
    assert warning.endswith("set executor.sandbox: none in gateq.yaml to run unsandboxed "
                            "without this warning")
    assert g.outcome() == {"a": "merged", "b": "merged"}
    assert {p.read_text().strip() for p in Path(g.seen).glob("parent-*")} == {"python"}


def test_sandbox_bwrap_fails_validation_where_bwrap_cannot_work(tmp_path):
    g = Gate(tmp_path)
    set_sandbox(g, "bwrap")
    assert g.ok("validate")                       # here bwrap works

    done = without_namespaces(sys.executable, "-m", "gateq.cli", "-c", g.config, "validate",
                              cwd=g.root)

    assert done.returncode == 1
    line, = done.stderr.splitlines()
    assert line.startswith("gateq.yaml:7: executor: attribute 'sandbox': bwrap cannot create "
                           "its sandbox: bwrap: ")
    assert line.endswith("; set auto or none to run builds without it")
