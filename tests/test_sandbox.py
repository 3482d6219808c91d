"""Builds under bubblewrap: what gateq published is read-only to them, and
they see only their own processes. How builds run, time out, get cancelled
and leave nothing behind, with bwrap and without, is tested once for both:
test_executor.py and test_jobs_processes.py.

Real bwrap, real job processes, real rpm tooling; in CI a missing bwrap
fails these tests instead of skipping them."""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gate_fixture import Gate, logged
from gateq.core.types import JobResult
from gateq.executor import LocalExecutor
from gateq.sandbox import Sandbox, probe
from jobs_fixture import log_text, require_bwrap, run_until_done, spec_for, write_script

NOBODY = 65534


@pytest.fixture(autouse=True)
def bwrap():
    require_bwrap()


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

@contextlib.contextmanager
def nobody_directory():
    """A directory the unprivileged user owns (pytest's tmp_path is root's only)."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    root = tempfile.mkdtemp(prefix="gateq-sandbox-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nobody_dir():
    with nobody_directory() as root:
        yield root


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


# -- the executor with a sandbox ---------------------------------------------

@pytest.fixture
def sandboxed(tmp_path):
    """An executor whose builds may write only under tmp_path/work (and the rest of the host)."""
    protected = tmp_path / "state"
    (protected / "work").mkdir(parents=True)
    executor = LocalExecutor(sandbox=Sandbox(probe(), (str(protected),)), kill_grace=0.3)
    yield executor
    executor.shutdown()


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


def test_a_sandboxed_job_sees_only_its_own_processes(tmp_path, sandboxed):
    script = write_script(tmp_path, "job", """\
        sleep 100 &
        echo "init: $(cat /proc/1/comm)"
        echo "mine: $$ $!"
        echo "seen: $(ls /proc | grep -c '^[0-9]')"
        """.replace("        ", ""))
    sandboxed.start(spec_for(tmp_path, "b", script))

    assert run_until_done(sandboxed)["b"].result is JobResult.SUCCESS
    said = dict(line.split(": ", 1) for line in log_text(tmp_path, "b").splitlines()[1:4])
    assert said["init"] == "bwrap"
    assert said["mine"] == "2 3"        # bwrap is 1; the job, then its first child
    assert int(said["seen"]) <= 8        # bwrap, the job, sleep, a subshell, ls, grep: not the host's


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
