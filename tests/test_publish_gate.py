"""Artifacts inside the gate, end to end: real git, rpmbuild, createrepo
metadata, dnf installs, published snapshots and their manifests."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from gate_fixture import Gate, git
from rpm_fixture import repoquery

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("rpmbuild", "dnf", "createrepo_c")
missing = [t for t in TOOLS if shutil.which(t) is None]
if missing and os.environ.get("CI") != "true":
    pytest.skip(f"needs {', '.join(missing)}", allow_module_level=True)

LAYOUT = """\
- repository: {name: rdo, type: rpm, keep: %(keep)s}
- job: {name: rpm-build, run: jobs/rpm-build.sh, export: rdo, timeout: 300}
- job:
    name: install
    run: jobs/rpm-install-check.sh
    dependencies: [rpm-build]
    requires: [rdo]
    timeout: 300
    vars: {REPO: rdo, PACKAGES: "%(packages)s"}
"""


def spec(name: str, version: str, requires: str = "") -> str:
    return f"""\
Name: {name}
Version: {version}
Release: 1
Summary: {name} for tests
License: MIT
BuildArch: noarch
Source0: {name}.conf
{requires}

%description
{name} packaged for a gateq test.

%install
install -D -m 0644 %{{SOURCE0}} %{{buildroot}}/etc/{name}/{name}.conf

%files
/etc/{name}/{name}.conf
"""


def rdo_gate(tmp_path, packages="nova ceilometer", keep=3) -> Gate:
    g = Gate(tmp_path, projects=("nova", "ceilometer"),
             jobs=LAYOUT % {"packages": packages, "keep": keep},
             project_jobs=("rpm-build", "install"), timeout=300)
    for job in ("rpm-build.sh", "rpm-install-check.sh"):
        shutil.copy(os.path.join(HERE, "jobs", job), os.path.join(g.config, "jobs", job))
    return g


def import_packages(g: Gate) -> None:
    g.change("nova", "import-nova", {"nova.spec": spec("nova", "12.0.0"), "nova.conf": "[nova]\n"})
    g.change("ceilometer", "import-ceilometer", {
        "ceilometer.spec": spec("ceilometer", "9.0.0", "Requires: nova >= 12.0.0"),
        "ceilometer.conf": "[ceilometer]\n"})
    g.approve("nova", "import-nova")
    g.approve("ceilometer", "import-ceilometer")
    g.run()
    assert g.outcome() == {"import-nova": "merged", "import-ceilometer": "merged"}


def publish_dir(g: Gate) -> str:
    return os.path.join(g.config, "publish", "rdo")


def current_manifest(g: Gate) -> dict:
    with open(os.path.join(publish_dir(g), "current", "manifest.json")) as f:
        return json.load(f)


def published_rpms(g: Gate) -> set[str]:
    return {a["path"].rsplit("/", 1)[-1] for a in current_manifest(g)["artifacts"]}


def assert_snapshot_matches_git(g: Gate) -> None:
    manifest = current_manifest(g)
    tips = {p["project"]: p["commit"] for p in manifest["projects"]}
    assert tips == {"nova": g.tip("nova"), "ceilometer": g.tip("ceilometer")}


def test_ceilometer_needing_the_new_nova_lands_because_it_sees_nova_from_the_item_ahead(tmp_path):
    g = rdo_gate(tmp_path)
    import_packages(g)
    assert published_rpms(g) == {"nova-12.0.0-1.noarch.rpm", "ceilometer-9.0.0-1.noarch.rpm"}
    g.change("nova", "bump", {"nova.spec": spec("nova", "12.0.1")})
    g.change("ceilometer", "needs-new-nova", {
        "ceilometer.spec": spec("ceilometer", "9.0.1", "Requires: nova >= 12.0.1")})
    g.propose("ceilometer", "needs-new-nova")
    g.approve("nova", "bump")
    g.approve("ceilometer", "needs-new-nova")
    g.run()
    assert g.outcome("check") == {"needs-new-nova": "failed"}     # alone: nova 12.0.0
    assert g.outcome() == {"import-nova": "merged", "import-ceilometer": "merged",
                           "bump": "merged", "needs-new-nova": "merged"}
    assert published_rpms(g) == {"nova-12.0.1-1.noarch.rpm", "ceilometer-9.0.1-1.noarch.rpm"}
    assert_snapshot_matches_git(g)
    results = {r["change"]: r for r in g.results()}
    assert results["needs-new-nova"]["snapshot"] == {"rdo": current_manifest(g)["snapshot"]}
    added = current_manifest(g)["changes"]
    assert [(c["project"], c["change"], c["commit"]) for c in added] == [
        ("ceilometer", "needs-new-nova", g.tip("ceilometer"))]


def test_when_the_nova_item_fails_ceilometer_is_retested_without_it_and_ejected(tmp_path):
    g = rdo_gate(tmp_path)
    import_packages(g)
    before = current_manifest(g)["snapshot"]
    g.change("nova", "bad-bump", {"nova.spec": spec("nova", "12.0.1", "Requires: no-such-package")})
    g.change("ceilometer", "needs-new-nova", {
        "ceilometer.spec": spec("ceilometer", "9.0.1", "Requires: nova >= 12.0.1")})
    g.approve("nova", "bad-bump")
    g.approve("ceilometer", "needs-new-nova")
    g.run()
    results = {r["change"]: r for r in g.results()}
    assert results["bad-bump"]["result"] == "failed"
    ceilometer = results["needs-new-nova"]
    assert ceilometer["result"] == "failed" and ceilometer["reason"] == "job install failure"
    # its last build ran on a new generation: re-tested without the nova item
    assert ceilometer["jobs"][1]["build"] != f"{ceilometer['item']}-0-install"
    assert current_manifest(g)["snapshot"] == before
    assert_snapshot_matches_git(g)


def test_a_failing_or_rejected_export_ejects_the_item_and_publishes_nothing(tmp_path):
    g = rdo_gate(tmp_path, packages="nova")
    import_packages(g)
    before = current_manifest(g)["snapshot"]
    g.change("nova", "no-spec", {"nova.spec": "this is not a spec file\n"})
    g.approve("nova", "no-spec")
    g.run()
    assert g.outcome()["no-spec"] == "failed"
    assert current_manifest(g)["snapshot"] == before

    g.write_job("rpm-build.sh", "#!/bin/sh\nln -s /etc/passwd \"$GATEQ_ARTIFACTS/passwd.rpm\"\n")
    g.change("nova", "symlink")
    g.approve("nova", "symlink")
    g.run()
    r = next(r for r in g.results() if r["change"] == "symlink")
    assert r["result"] == "failed" and "export rejected" in r["reason"] and "link" in r["reason"]

    g.write_job("rpm-build.sh", "#!/bin/sh\necho notes > \"$GATEQ_ARTIFACTS/notes.txt\"\n")
    g.change("nova", "not-rpm")
    g.approve("nova", "not-rpm")
    g.run()
    r = next(r for r in g.results() if r["change"] == "not-rpm")
    assert r["result"] == "failed" and "not an rpm" in r["reason"]
    assert current_manifest(g)["snapshot"] == before
    assert_snapshot_matches_git(g)


def test_a_kill_between_the_git_landing_and_the_switch_is_repaired_at_the_next_start(tmp_path):
    g = rdo_gate(tmp_path, packages="nova")
    import_packages(g)
    g.change("nova", "bump", {"nova.spec": spec("nova", "12.0.1")})
    g.approve("nova", "bump")
    env = {**os.environ, "GATEQ_FAILPOINT": "after-land"}
    proc = g.cli_subprocess("run", "--until-idle", env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=300) == 137
    assert current_manifest(g)["projects"] != [] and "bump" not in {
        c["change"] for c in current_manifest(g)["changes"]}       # git moved, current not yet
    g.run()
    assert g.outcome()["bump"] == "merged"
    assert "nova-12.0.1-1.noarch.rpm" in published_rpms(g)
    assert_snapshot_matches_git(g)
    assert g.landed("nova").count("bump") == 1


def snapshots_in_order(g: Gate) -> list[dict]:
    root = os.path.join(publish_dir(g), "snapshots")
    manifests = []
    for number in sorted((n for n in os.listdir(root) if n.isdigit()), key=int):
        with open(os.path.join(root, number, "manifest.json")) as f:
            manifests.append(json.load(f))
    return manifests


def branch_history(g: Gate, project: str) -> list[str]:
    """Every commit the branch pointed at, oldest first (its first-parent line)."""
    return git("rev-list", "--first-parent", "--reverse", "main", cwd=g.bare(project)).split()


def test_every_snapshot_holds_exactly_the_commits_and_packages_landed_up_to_it(tmp_path):
    g = rdo_gate(tmp_path, keep=10)
    import_packages(g)
    g.change("nova", "bump", {"nova.spec": spec("nova", "12.0.1")})
    g.change("ceilometer", "needs-new-nova", {
        "ceilometer.spec": spec("ceilometer", "9.0.1", "Requires: nova >= 12.0.1")})
    g.change("nova", "bad", {"nova.spec": spec("nova", "12.0.2", "Requires: no-such-package")},
             base="origin/bump")
    g.change("nova", "readme", {"README": "nova, packaged\n"}, base="origin/bump")
    for project, change in [("nova", "bump"), ("ceilometer", "needs-new-nova"),
                            ("nova", "bad"), ("nova", "readme")]:
        g.approve(project, change)
    g.run()
    assert g.outcome()["bad"] == "failed"
    landed = [r for r in g.results() if r["result"] == "merged"]
    manifests = snapshots_in_order(g)
    # one snapshot per landing, in landing order, each naming the one change it adds
    assert [m["snapshot"] for m in manifests] == list(range(1, len(landed) + 1))
    assert [(c["change"], c["commit"]) for m in manifests for c in m["changes"]] == [
        (r["change"], r["commit"]) for r in landed]
    assert [r["snapshot"] for r in landed] == [{"rdo": m["snapshot"]} for m in manifests]
    # the commits a snapshot was built from are the branch tips right after its landing
    tips = {p: iter(branch_history(g, p)[1:]) for p in ("nova", "ceilometer")}
    state = {p: branch_history(g, p)[0] for p in ("nova", "ceilometer")}
    expected = {}                      # package name -> (file, change that built it)
    for manifest, result in zip(manifests, landed):
        state[result["project"]] = next(tips[result["project"]])
        assert {p["project"]: p["commit"] for p in manifest["projects"]} == state
        built = {a["name"]: (os.path.basename(a["path"]), a["change"])
                 for a in manifest["artifacts"]
                 if a["change"] == f"{result['project']}:{result['change']}"}
        assert built, f"{result['change']} landed without its packages"
        expected.update(built)
        assert {a["name"]: (os.path.basename(a["path"]), a["change"])
                for a in manifest["artifacts"]} == expected
    assert expected == {
        "nova": ("nova-12.0.1-1.noarch.rpm", "nova:readme"),
        "ceilometer": ("ceilometer-9.0.1-1.noarch.rpm", "ceilometer:needs-new-nova")}
    assert_snapshot_matches_git(g)


MOVE_BRANCH_ONCE = """\
#!/bin/sh
# Before the first install check of change `bump`, somebody pushes to nova's
# main outside gateq: the landing that follows must fail its compare-and-swap.
set -eu
marker="%(marker)s"
if [ "$GATEQ_CHANGE" = bump ] && [ ! -e "$marker" ]; then
    touch "$marker"
    bare="%(bare)s"
    tree=$(git -C "$bare" rev-parse 'main^{tree}')
    new=$(GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x \\
          git -C "$bare" commit-tree -p main -m "pushed outside gateq" "$tree")
    git -C "$bare" update-ref refs/heads/main "$new"
fi
exec sh "$(dirname "$0")/rpm-install-check.sh.real"
"""


def test_a_landing_whose_branch_moved_publishes_nothing_and_lands_on_the_new_tip(tmp_path):
    g = rdo_gate(tmp_path, packages="nova")
    import_packages(g)
    before = [m["snapshot"] for m in snapshots_in_order(g)]
    jobs = os.path.join(g.config, "jobs")
    os.rename(os.path.join(jobs, "rpm-install-check.sh"),
              os.path.join(jobs, "rpm-install-check.sh.real"))
    g.write_job("rpm-install-check.sh", MOVE_BRANCH_ONCE % {
        "marker": os.path.join(g.root, "moved"), "bare": g.bare("nova")})
    g.change("nova", "bump", {"nova.spec": spec("nova", "12.0.1")})
    g.approve("nova", "bump")
    g.run()
    assert g.outcome()["bump"] == "merged"
    manifests = snapshots_in_order(g)
    # exactly one snapshot more: the one staged for the failed landing was discarded
    assert [m["snapshot"] for m in manifests] == before + [before[-1] + 1]
    assert [c["change"] for c in manifests[-1]["changes"]] == ["bump"]
    assert "pushed outside gateq" in git("log", "--format=%s", "main", cwd=g.bare("nova"))
    assert_snapshot_matches_git(g)
    assert "nova-12.0.1-1.noarch.rpm" in published_rpms(g)
    assert sorted(os.listdir(os.path.join(publish_dir(g), "snapshots")), key=int) == [
        str(m["snapshot"]) for m in manifests]


def stored_files(g: Gate) -> set[str]:
    blobs = os.path.join(g.config, "state", "cas", "sha256")
    return {prefix + name for prefix in os.listdir(blobs)
            for name in os.listdir(os.path.join(blobs, prefix))}


def pool_dirs(g: Gate) -> set[str]:
    pool = os.path.join(publish_dir(g), "pool")
    return {os.path.join(pool, prefix, key) for prefix in os.listdir(pool)
            if not prefix.startswith(".") for key in os.listdir(os.path.join(pool, prefix))}


def test_the_gate_keeps_on_disk_only_what_its_kept_snapshots_use(tmp_path):
    g = rdo_gate(tmp_path, keep=2)
    import_packages(g)
    for project, change, version in [("nova", "bump", "12.0.1"), ("nova", "bump-again", "12.0.2")]:
        g.change(project, change, {"nova.spec": spec("nova", version)}, base="origin/main")
        g.approve(project, change)
        g.run()
    g.change("nova", "breaks", {"nova.spec": spec("nova", "13.0", "Requires: no-such-package")})
    g.approve("nova", "breaks")
    g.run()
    assert g.outcome() == {"import-nova": "merged", "import-ceilometer": "merged",
                           "bump": "merged", "bump-again": "merged", "breaks": "failed"}
    manifests = snapshots_in_order(g)
    assert [m["snapshot"] for m in manifests] == [3, 4]
    kept = [os.path.join(publish_dir(g), "snapshots", str(m["snapshot"])) for m in manifests]
    # the packages of pruned snapshots and of the ejected item are gone from the store
    assert stored_files(g) == {a["sha256"] for m in manifests for a in m["artifacts"]}
    assert pool_dirs(g) == {os.path.realpath(os.path.join(k, "Packages", b))
                            for k in kept for b in os.listdir(os.path.join(k, "Packages"))}
    assert os.listdir(os.path.join(g.config, "state", "cas", "sets")) == []
    for snapshot, manifest in zip(kept, manifests):
        for a in manifest["artifacts"]:
            with open(os.path.join(snapshot, a["path"]), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == a["sha256"]
    assert repoquery(kept[0]) == {"nova-12.0.1-1.noarch", "ceilometer-9.0.0-1.noarch"}
    assert repoquery(kept[1]) == {"nova-12.0.2-1.noarch", "ceilometer-9.0.0-1.noarch"}
