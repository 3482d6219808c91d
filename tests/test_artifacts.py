"""Artifacts inside the gate, piece by piece, with real rpms built by
rpmbuild, real createrepo_c and real dnf: what an export may contain, what a
build's view shows, metadata dnf accepts, and published snapshots."""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import createrepo_c as cr
import pytest

from gateq.artifacts.model import RejectedArtifact, check_relative
from gateq.artifacts.pool import bucket_path
from gateq.artifacts.rpmmeta import PackageRef, write_repodata
from gateq.artifacts.snapshots import Publisher, snapshot_layer
from gateq.artifacts.store import ArtifactStore
from gateq.artifacts.view import materialise
from rpm_fixture import build_rpms, repoquery, require_tools, spec_text

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = os.path.join(HERE, "jobs")


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    """Every package the tests use, built once: name -> path."""
    require_tools()
    out = str(tmp_path_factory.mktemp("rpms"))
    built = []
    built += build_rpms(out, "nova", "12.0.0", subpackages=("python-nova",))
    built += build_rpms(out, "nova", "12.0.1")
    built += build_rpms(out, "nova", "12.0.2")
    built += build_rpms(out, "ceilometer", "9.0.0", requires="Requires: nova >= 12.0.0")
    built += build_rpms(out, "ceilometer", "9.0.1", requires="Requires: nova >= 12.0.1")
    built += build_rpms(out, "glance", "1.0", subpackages=tuple(f"glance-{c}" for c in "abcdefg"))
    built += build_rpms(out, "glance-c", "2.0")
    return {os.path.basename(p)[:-len(".noarch.rpm")]: p for p in built}


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(str(tmp_path / "cas"))


def export(tmp_path, rpms, *names, subdir="") -> str:
    """An export directory holding copies of the named packages."""
    dest = tmp_path / f"export-{len(list(tmp_path.glob('export-*')))}"
    (dest / subdir).mkdir(parents=True)
    for name in names:
        shutil.copy(rpms[name], dest / subdir)
    return str(dest)


def ingest(store, tmp_path, rpms, build, *names, change=None):
    return store.ingest(build, "rpm", export(tmp_path, rpms, *names), "rpm-build", change or build)


def base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def files_of(directory) -> set[str]:
    return {n for _, _, names in os.walk(directory, followlinks=True) for n in names if n.endswith(".rpm")}


# -- ingestion ----------------------------------------------------------------

def test_an_export_is_stored_by_content_with_each_package_header(tmp_path, store, rpms):
    src = export(tmp_path, rpms, "nova-12.0.0-1", "python-nova-12.0.0-1", subdir="noarch")
    stored = store.ingest("7-0-rpm-build", "rpm", src, "rpm-build", "import-nova")
    assert [e.path for e in stored.entries] == ["noarch/nova-12.0.0-1.noarch.rpm",
                                                "noarch/python-nova-12.0.0-1.noarch.rpm"]
    nova = stored.entries[0]
    with open(rpms["nova-12.0.0-1"], "rb") as f:
        content = f.read()
    assert (nova.size, nova.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert nova.rpm.nevra == "nova-12.0.0-1.noarch"
    assert store.load("7-0-rpm-build") == stored
    assert store.load("no-such-build") is None
    blob = os.stat(store.blob(nova.sha256))
    assert blob.st_ino != os.stat(os.path.join(src, nova.path)).st_ino     # a copy
    assert not blob.st_mode & 0o222                                        # read-only
    again = ingest(store, tmp_path, rpms, "8-0-rpm-build", "nova-12.0.0-1")
    assert os.stat(store.blob(again.entries[0].sha256)).st_ino == blob.st_ino  # stored once


def test_an_empty_export_is_an_empty_set(tmp_path, store):
    (tmp_path / "empty").mkdir()
    assert store.ingest("b", "rpm", str(tmp_path / "empty"), "rpm-build", "c").entries == ()


def _symlink(d):
    os.symlink("nova-12.0.0-1.noarch.rpm", d / "x.rpm")


def _dir_symlink_out(d):
    os.symlink("..", d / "up")


def _not_rpm(d):
    (d / "notes.txt").write_text("notes\n")


def _fake_rpm(d):
    (d / "fake.rpm").write_text("this is not an rpm\n")


def _bad_header(d):
    (d / "broken.rpm").write_bytes(b"\xed\xab\xee\xdb" + b"\0" * 200)


def _hardlink(d):
    os.link(d / "nova-12.0.0-1.noarch.rpm", d / "again.rpm")


def _fifo(d):
    os.mkfifo(d / "pipe.rpm")


def _two_novas(d):
    shutil.copy(d / "nova-12.0.0-1.noarch.rpm", d / "sub-nova.rpm")


@pytest.mark.parametrize("make, message", [
    (_symlink, "artifact 'x.rpm' is a symbolic link"),
    (_dir_symlink_out, "artifact 'up' is a symbolic link"),
    (_not_rpm, "artifact 'notes.txt' is not an rpm package (its name must end .rpm)"),
    (_fake_rpm, "artifact 'fake.rpm' is not an rpm package"),
    (_bad_header, "artifact 'broken.rpm' is not an rpm package (createrepo_c cannot read its header)"),
    (_hardlink, "has other hard links"),
    (_fifo, "artifact 'pipe.rpm' is not a regular file"),
    (_two_novas, "artifacts 'nova-12.0.0-1.noarch.rpm' and 'sub-nova.rpm' are both nova.noarch"),
])
def test_an_export_that_cannot_be_published_is_rejected_whole(tmp_path, store, rpms, make, message):
    src = export(tmp_path, rpms, "nova-12.0.0-1")
    make(tmp_path / os.path.basename(src))
    with pytest.raises(RejectedArtifact) as err:
        store.ingest("b", "rpm", src, "rpm-build", "c")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert store.load("b") is None


def test_an_artifacts_directory_replaced_by_a_symlink_escapes(tmp_path, store, rpms):
    outside = export(tmp_path, rpms, "nova-12.0.0-1")
    os.symlink(outside, tmp_path / "artifacts")
    with pytest.raises(RejectedArtifact, match=r"replaced by a symbolic link .* escapes"):
        store.ingest("b", "rpm", str(tmp_path / "artifacts"), "rpm-build", "c")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a//b", "./a"])
def test_paths_must_stay_inside_the_repository(path):
    with pytest.raises(RejectedArtifact, match=re.escape(f"artifact {path!r} escapes $GATEQ_ARTIFACTS")):
        check_relative(path)


def test_a_files_repository_takes_any_regular_file_but_reserved_names(tmp_path, store):
    src = tmp_path / "artifacts"
    (src / "docs").mkdir(parents=True)
    (src / "notes.txt").write_text("notes\n")
    (src / "docs" / "guide.html").write_text("<html></html>\n")
    stored = store.ingest("b", "files", str(src), "docs", "c")
    assert [(e.path, e.size, e.rpm) for e in stored.entries] == [
        ("docs/guide.html", 14, None), ("notes.txt", 6, None)]
    (src / "index.json").write_text("{}")
    with pytest.raises(RejectedArtifact, match="'index.json' uses a name the repository reserves"):
        store.ingest("b2", "files", str(src), "docs", "c")


# -- views --------------------------------------------------------------------

def publish(tmp_path, store, *sets, keep=3, repo_type="rpm"):
    publisher = Publisher(str(tmp_path / "publish"), "rdo", repo_type, keep, store)
    for s in sets:
        publisher.switch(publisher.stage([s], {"projects": [], "changes": [{"change": s.change}]}))
    return publisher


def test_a_view_shows_each_package_from_the_layer_closest_to_the_build(tmp_path, store, rpms):
    published = ingest(store, tmp_path, rpms, "1-rpm-build", "nova-12.0.0-1", "ceilometer-9.0.0-1")
    ahead = ingest(store, tmp_path, rpms, "2-rpm-build", "nova-12.0.1-1", change="bump")
    own = ingest(store, tmp_path, rpms, "3-rpm-build", "nova-12.0.2-1", change="bump-again")
    publisher = publish(tmp_path, store, published)
    view = str(tmp_path / "repos" / "rdo")
    shown = materialise(view, "rpm", [publisher.current_layer(), ahead, own], store)
    assert files_of(view) == {"ceilometer-9.0.0-1.noarch.rpm", "nova-12.0.2-1.noarch.rpm"}
    assert all(a["path"] == bucket_path(a["name"], base(a["path"])) for a in shown["artifacts"])
    assert {(base(a["path"]), a["change"], a["build"]) for a in shown["artifacts"]} == {
        ("ceilometer-9.0.0-1.noarch.rpm", "1-rpm-build", "1-rpm-build"),
        ("nova-12.0.2-1.noarch.rpm", "bump-again", "3-rpm-build")}
    assert repoquery(view) == {"ceilometer-9.0.0-1.noarch", "nova-12.0.2-1.noarch"}
    nova = own.artifacts()[0].entry
    assert os.stat(os.path.join(view, nova.path)).st_ino == os.stat(store.blob(nova.sha256)).st_ino
    assert files_of(os.path.join(publisher.repo_dir, "current")) == {
        "ceilometer-9.0.0-1.noarch.rpm", "nova-12.0.0-1.noarch.rpm"}   # untouched


def files_set(store, tmp_path, build: str, files: dict[str, str]):
    """An export build's set in a files repository: path -> text."""
    src = tmp_path / build
    for path, text in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_text(text)
    return store.ingest(build, "files", str(src), "docs", build)


def test_in_a_files_view_later_layers_win_by_path(tmp_path, store):
    first = files_set(store, tmp_path, "b1",
                      {"a.txt": "one\n", "site": "a file\n", "keep.txt": "kept\n"})
    second = files_set(store, tmp_path, "b2",
                       {"a.txt": "two\n", "site/index.html": "a directory now\n"})
    view = tmp_path / "view"
    shown = materialise(str(view), "files", [first, second], store)
    assert sorted((a["path"], a["build"]) for a in shown["artifacts"]) == [
        ("a.txt", "b2"), ("keep.txt", "b1"), ("site/index.html", "b2")]
    assert (view / "a.txt").read_text() == "two\n"
    index = json.loads((view / "index.json").read_text())
    assert [(f["path"], f["size"]) for f in index["files"]] == [
        ("a.txt", 4), ("keep.txt", 5), ("site/index.html", 16)]
    assert index["files"][0]["sha256"] == hashlib.sha256(b"two\n").hexdigest()


# -- metadata -----------------------------------------------------------------

def repomd_records(repo: str) -> dict:
    return {r.type: r for r in cr.Repomd(os.path.join(repo, "repodata", "repomd.xml")).records}


def assert_repomd_consistent(repo: str) -> None:
    for kind, record in repomd_records(repo).items():
        with open(os.path.join(repo, record.location_href), "rb") as f:
            data = f.read()
        opened = gzip.decompress(data)
        assert (record.checksum, record.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert (record.checksum_open, record.size_open) == (hashlib.sha256(opened).hexdigest(),
                                                            len(opened))


def parsed_primary(repo: str) -> set[tuple]:
    found = []
    path = os.path.join(repo, repomd_records(repo)["primary"].location_href)
    cr.xml_parse_primary(path, pkgcb=lambda p: found.append(
        (p.name, p.version, p.location_href, p.pkgId, tuple(p.files))) or True, do_files=True)
    return set(found)


def test_metadata_matches_createrepo_c_and_dnf_reads_it(tmp_path, store, rpms):
    names = ["nova-12.0.0-1", "python-nova-12.0.0-1", "ceilometer-9.0.0-1", "glance-1.0-1"]
    ours = str(tmp_path / "ours")
    materialise(ours, "rpm", [ingest(store, tmp_path, rpms, "b", *names)], store)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    for name in names:               # the same layout as ours: packages in their buckets
        package = rpms[name]
        header_name = name.rsplit("-", 2)[0]
        place = theirs / bucket_path(header_name, os.path.basename(package))
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package, place)
    subprocess.run(["createrepo_c", "-q", "--no-database", str(theirs)], check=True)
    assert_repomd_consistent(ours)
    assert set(repomd_records(ours)) == {"primary", "filelists", "other"}
    assert parsed_primary(ours) == parsed_primary(str(theirs))
    assert repoquery(ours) == repoquery(str(theirs)) == {f"{n}.noarch" for n in names}


@pytest.mark.parametrize("chunk_bytes", [1, 3000, 1 << 20])
def test_incremental_metadata_equals_metadata_built_from_scratch(tmp_path, store, rpms, chunk_bytes):
    glances = [f"glance-{c}-1.0-1" for c in "abcdefg"]
    first = ingest(store, tmp_path, rpms, "b1", "glance-1.0-1", *glances)
    refs = [PackageRef(e.path, e.sha256) for e in first.entries]
    base = str(tmp_path / "base")
    write_repodata(base, refs, store.fragments, store.blob, published=True, chunk_bytes=chunk_bytes)
    update = ingest(store, tmp_path, rpms, "b2", "glance-c-2.0-1", "nova-12.0.0-1")
    changed = [r for r in refs if "glance-c-1.0" not in r.href and "glance-f-" not in r.href]
    changed += [PackageRef(e.path, e.sha256) for e in update.entries]
    incremental, scratch = str(tmp_path / "incremental"), str(tmp_path / "scratch")
    write_repodata(incremental, changed, store.fragments, store.blob, base=base, published=True,
                   chunk_bytes=chunk_bytes)
    write_repodata(scratch, changed, store.fragments, store.blob, chunk_bytes=chunk_bytes)
    assert_repomd_consistent(incremental)
    assert parsed_primary(incremental) == parsed_primary(scratch)
    assert {p[0] for p in parsed_primary(incremental)} == {
        "glance", "glance-a", "glance-b", "glance-c", "glance-d", "glance-e", "glance-g", "nova"}
    again = str(tmp_path / "again")           # a chain: the incremental one as the next base
    write_repodata(again, changed[1:], store.fragments, store.blob, base=incremental, chunk_bytes=chunk_bytes)
    assert_repomd_consistent(again)
    assert len(parsed_primary(again)) == len(changed) - 1


# -- snapshots ----------------------------------------------------------------

def test_a_snapshot_is_staged_complete_and_published_by_switching_current(tmp_path, store, rpms):
    first = ingest(store, tmp_path, rpms, "1-rpm-build", "nova-12.0.0-1", "ceilometer-9.0.0-1",
                   change="import")
    publisher = Publisher(str(tmp_path / "publish"), "rdo", "rpm", 3, store)
    assert publisher.current() == (0, None) and publisher.current_layer() is None
    projects = [{"project": "nova", "branch": "main", "commit": "c0ffee"}]
    changes = [{"project": "nova", "change": "import", "revision": "r1", "commit": "c0ffee", "item": 1}]
    staged = publisher.stage([first], {"projects": projects, "changes": changes})
    assert (staged.number, publisher.current()) == (1, (0, None))    # not visible yet
    publisher.switch(staged)
    current = os.path.join(publisher.repo_dir, "current")
    assert os.readlink(current) == "snapshots/1"
    number, manifest = publisher.current()
    assert number == 1 and manifest == staged.manifest
    assert (manifest["snapshot"], manifest["parent"], manifest["repository"], manifest["type"]) == (
        1, None, "rdo", "rpm")
    assert manifest["projects"] == projects and manifest["changes"] == changes
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", manifest["time"])

    bump = ingest(store, tmp_path, rpms, "2-rpm-build", "nova-12.0.1-1", change="bump")
    second = publisher.stage([bump], {"projects": projects, "changes": [{"change": "bump"}]})
    publisher.switch(second)
    number, manifest = publisher.current()
    assert (number, manifest["parent"], manifest["changes"]) == (2, 1, [{"change": "bump"}])
    assert {(base(a["path"]), a["change"], a["job"], a["build"]) for a in manifest["artifacts"]} == {
        ("ceilometer-9.0.0-1.noarch.rpm", "import", "rpm-build", "1-rpm-build"),
        ("nova-12.0.1-1.noarch.rpm", "bump", "rpm-build", "2-rpm-build")}
    assert repoquery(current) == {"ceilometer-9.0.0-1.noarch", "nova-12.0.1-1.noarch"}
    assert_repomd_consistent(current)
    assert snapshot_layer(publisher.root, "rdo").number == 2
    assert sorted(os.listdir(publisher.repo_dir)) == ["current", "pool", "snapshots"]
    assert sorted(os.listdir(publisher.snapshots)) == ["1", "2"]


def test_a_staging_has_no_number_until_placed_and_a_discarded_one_leaves_current_alone(
        tmp_path, store, rpms):
    first = ingest(store, tmp_path, rpms, "b1", "nova-12.0.0-1")
    publisher = publish(tmp_path, store, first)
    staged = publisher.stage([ingest(store, tmp_path, rpms, "b2", "nova-12.0.1-1")], {})
    assert staged.number == 2 and not os.path.exists(staged.path)
    assert sorted(os.listdir(publisher.snapshots)) == ["1", f"2.tmp-{os.getpid()}"]
    assert publisher.numbers() == [1]
    publisher.discard(staged)
    assert os.listdir(publisher.snapshots) == ["1"] and publisher.current()[0] == 1
    publisher.discard_staged(1, "1.tmp-1")              # a published snapshot is never discarded
    assert os.listdir(publisher.snapshots) == ["1"]
    again = publisher.stage([ingest(store, tmp_path, rpms, "b3", "nova-12.0.2-1")], {})
    assert again.number == 2 and again.manifest["parent"] == 1
    publisher.place(again.number, os.path.basename(again.staging))
    publisher.place(again.number, os.path.basename(again.staging))     # done already: nothing to do
    assert sorted(os.listdir(publisher.snapshots)) == ["1", "2"] and publisher.current()[0] == 1
    publisher.switch_to(2)
    assert files_of(os.path.join(publisher.repo_dir, "current")) == {"nova-12.0.2-1.noarch.rpm"}


def test_prune_keeps_the_newest_published_snapshots_and_never_current(tmp_path, store, rpms):
    sets = [ingest(store, tmp_path, rpms, f"b{i}", name)
            for i, name in enumerate(["nova-12.0.0-1", "nova-12.0.1-1", "nova-12.0.2-1"])]
    publisher = publish(tmp_path, store, *sets, keep=2)
    staged = publisher.stage([ingest(store, tmp_path, rpms, "b9", "ceilometer-9.0.0-1")], {})
    assert publisher.prune() == [1]
    assert publisher.numbers() == [2, 3] and os.path.isdir(staged.staging)   # awaiting its landing
    publisher.switch(staged)
    one = Publisher(publisher.root, "rdo", "rpm", 1, store)
    assert one.prune() == [2, 3] and one.numbers() == [4]
    assert os.listdir(publisher.snapshots) == ["4"]      # what was renamed aside is gone too
    assert files_of(os.path.join(publisher.repo_dir, "current")) == {
        "nova-12.0.2-1.noarch.rpm", "ceilometer-9.0.0-1.noarch.rpm"}


def test_a_sweep_leaves_only_current_and_its_ancestors(tmp_path, store, rpms):
    """What a start finds after kills, and what gateq before 2026-12 left: a
    snapshot numbered but never current (below and above `current`),
    stagings, a half-removed snapshot, a next `current` link."""
    sets = [ingest(store, tmp_path, rpms, f"b{i}", name) for i, name in enumerate(
        ["nova-12.0.0-1", "nova-12.0.1-1", "nova-12.0.2-1", "ceilometer-9.0.0-1", "glance-1.0-1"])]
    publisher = publish(tmp_path, store, sets[0], keep=5)
    never = publisher.stage([sets[1]], {})
    publisher.place(never.number, os.path.basename(never.staging))    # 2: its landing never came
    publisher.switch(publisher.stage([sets[2]], {}))                   # 3, parent 1
    above = publisher.stage([sets[3]], {})
    publisher.place(above.number, os.path.basename(above.staging))    # 4: never current
    publisher.stage([sets[4]], {})                                     # 5.tmp-<pid>
    os.makedirs(os.path.join(publisher.snapshots, "9.gone-1", "Packages"))
    os.symlink("snapshots/4", os.path.join(publisher.repo_dir, ".current.tmp-1"))
    assert publisher.numbers() == [1, 2, 3, 4]
    removed = publisher.sweep()
    assert removed == ["2", "4", f"5.tmp-{os.getpid()}", "9.gone-1", ".current.tmp-1"]
    assert sorted(os.listdir(publisher.snapshots)) == ["1", "3"]
    assert sorted(os.listdir(publisher.repo_dir)) == ["current", "pool", "snapshots"]
    assert publisher.sweep() == []
    assert files_of(os.path.join(publisher.repo_dir, "current")) == {"nova-12.0.2-1.noarch.rpm"}
    assert publisher.stage([sets[3]], {}).number == 4                  # the next landing's


def test_a_files_repository_snapshot_has_an_index(tmp_path, store):
    src = tmp_path / "artifacts"
    src.mkdir()
    (src / "release-notes.txt").write_text("gateq\n")
    publisher = publish(tmp_path, store, store.ingest("b", "files", str(src), "docs", "c"),
                        repo_type="files")
    current = os.path.join(publisher.repo_dir, "current")
    with open(os.path.join(current, "index.json")) as f:
        assert json.load(f)["files"] == [{"path": "release-notes.txt", "size": 6,
                                          "sha256": hashlib.sha256(b"gateq\n").hexdigest()}]
    assert [a["path"] for a in publisher.current()[1]["artifacts"]] == ["release-notes.txt"]


# -- job scripts --------------------------------------------------------------

def run_job(script: str, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", os.path.join(JOBS, script)], cwd=cwd, text=True,
                          env={**os.environ, **env}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)


def distgit(tmp_path, name, version, requires="") -> str:
    checkout = tmp_path / f"{name}-distgit"
    checkout.mkdir()
    (checkout / f"{name}.spec").write_text(spec_text(name, version, requires=requires))
    return str(checkout)


def test_rpm_build_exports_the_packages_of_a_distgit_checkout(tmp_path, store):
    require_tools()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    job = run_job("rpm-build.sh", distgit(tmp_path, "nova", "12.0.1"), GATEQ_ARTIFACTS=str(artifacts))
    assert job.returncode == 0, job.stdout
    assert os.listdir(artifacts) == ["nova-12.0.1-1.noarch.rpm"]
    assert "nova-12.0.1-1.noarch" in job.stdout
    assert store.ingest("b", "rpm", str(artifacts), "rpm-build", "c").entries[0].rpm.version == "12.0.1"
    (tmp_path / "empty").mkdir()
    job = run_job("rpm-build.sh", tmp_path / "empty", GATEQ_ARTIFACTS=str(artifacts))
    assert job.returncode == 1 and "no *.spec file in" in job.stdout


def test_rpm_install_check_installs_what_the_items_ahead_built(tmp_path, store, rpms):
    published = ingest(store, tmp_path, rpms, "b1", "nova-12.0.0-1", "ceilometer-9.0.0-1")
    ahead = ingest(store, tmp_path, rpms, "b2", "nova-12.0.1-1")
    own = ingest(store, tmp_path, rpms, "b3", "ceilometer-9.0.1-1")
    layer = publish(tmp_path, store, published).current_layer()
    checkout = distgit(tmp_path, "ceilometer", "9.0.1", "Requires: nova >= 12.0.1")
    check = 'rpm --root "$INSTALL_ROOT" -q nova ceilometer'

    materialise(str(tmp_path / "with" / "rdo"), "rpm", [layer, ahead, own], store)
    job = run_job("rpm-install-check.sh", checkout, GATEQ_REPOS=str(tmp_path / "with"),
                  CHECK_COMMAND=check)         # PACKAGES: those of the spec in the checkout
    assert job.returncode == 0, job.stdout
    assert "installing ceilometer from" in job.stdout
    assert "  ceilometer-9.0.1-1.noarch\n  nova-12.0.1-1.noarch\n" in job.stdout
    assert job.stdout.rstrip().endswith("ceilometer-9.0.1-1.noarch")     # CHECK_COMMAND's output

    materialise(str(tmp_path / "without" / "rdo"), "rpm", [layer, own], store)
    job = run_job("rpm-install-check.sh", checkout, GATEQ_REPOS=str(tmp_path / "without"),
                  PACKAGES="ceilometer")
    assert job.returncode != 0 and "nova >= 12.0.1" in job.stdout

    job = run_job("rpm-install-check.sh", checkout, GATEQ_REPOS=str(tmp_path / "with"),
                  PACKAGES="nova glance", CHECK_COMMAND='rpm --root "$INSTALL_ROOT" -q ceilometer')
    assert "glance is not in the repository yet: skipped" in job.stdout     # not imported yet
    assert job.returncode != 0 and "package ceilometer is not installed" in job.stdout


def test_rpm_install_check_requires_the_packages_of_its_own_checkout(tmp_path, store, rpms):
    materialise(str(tmp_path / "repos" / "rdo"), "rpm",
                [ingest(store, tmp_path, rpms, "b1", "nova-12.0.0-1")], store)
    job = run_job("rpm-install-check.sh", distgit(tmp_path, "glance", "1.0"),
                  GATEQ_REPOS=str(tmp_path / "repos"))
    assert job.returncode == 1 and "glance is not in" in job.stdout
    job = run_job("rpm-install-check.sh", tmp_path, GATEQ_REPOS=str(tmp_path / "repos"),
                  PACKAGES="glance")
    assert job.returncode == 1 and "none of glance is in" in job.stdout


def test_views_and_snapshots_link_buckets_from_the_pool_and_share_unchanged_ones(tmp_path, store, rpms):
    published = ingest(store, tmp_path, rpms, "1-rpm-build", "nova-12.0.0-1", "ceilometer-9.0.0-1")
    publisher = publish(tmp_path, store, published)
    snapshot = os.path.join(publisher.repo_dir, "current")
    update = ingest(store, tmp_path, rpms, "2-rpm-build", "nova-12.0.1-1", change="bump")
    view = str(tmp_path / "view")
    materialise(view, "rpm", [publisher.current_layer(), update], store, pool=publisher.pool)
    nova_bucket = os.path.dirname(bucket_path("nova", "x"))
    ceilometer_bucket = os.path.dirname(bucket_path("ceilometer", "x"))
    assert os.path.islink(os.path.join(view, nova_bucket))
    # the unchanged bucket is the very directory the published snapshot uses
    assert os.path.realpath(os.path.join(view, ceilometer_bucket)) == \
        os.path.realpath(os.path.join(snapshot, ceilometer_bucket))
    assert os.path.realpath(os.path.join(view, nova_bucket)) != \
        os.path.realpath(os.path.join(snapshot, nova_bucket))
    assert repoquery(view) == {"ceilometer-9.0.0-1.noarch", "nova-12.0.1-1.noarch"}


# -- what staging reuses from the snapshot before it -----------------------------

def published_state(repo: str) -> tuple:
    """What a reader of a published snapshot gets: packages with their files,
    artifacts with provenance, and where each bucket points."""
    with open(os.path.join(repo, "manifest.json")) as f:
        artifacts = json.load(f)["artifacts"]
    buckets = {b: os.path.basename(os.readlink(os.path.join(repo, "Packages", b)))
               for b in sorted(os.listdir(os.path.join(repo, "Packages")))}
    return parsed_primary(repo), sorted(map(json.dumps, artifacts)), buckets


STAGE_IN_NEW_PROCESS = """\
import sys
from gateq.artifacts.snapshots import Publisher
from gateq.artifacts.store import ArtifactStore
store = ArtifactStore(sys.argv[1])
publisher = Publisher(sys.argv[2], "rdo", "rpm", 3, store)
publisher.switch(publisher.stage([store.load(b) for b in sys.argv[3:]], {}))
"""


def test_a_staging_that_remembers_its_base_publishes_what_a_fresh_process_would(
        tmp_path, store, rpms):
    first = ingest(store, tmp_path, rpms, "b1", "nova-12.0.0-1", "ceilometer-9.0.0-1",
                   "glance-1.0-1", *[f"glance-{c}-1.0-1" for c in "abcdefg"])
    bump = ingest(store, tmp_path, rpms, "b2", "nova-12.0.1-1", "glance-c-2.0-1")
    again = ingest(store, tmp_path, rpms, "b3", "ceilometer-9.0.1-1", "nova-12.0.2-1")
    remembered = Publisher(str(tmp_path / "a"), "rdo", "rpm", 3, store)
    fresh = Publisher(str(tmp_path / "b"), "rdo", "rpm", 3, store)
    for layer in (first, bump, again):
        remembered.switch(remembered.stage([layer], {}))
        subprocess.run([sys.executable, "-c", STAGE_IN_NEW_PROCESS, store.root, fresh.root,
                        layer.build], check=True, cwd=HERE)
        ours, theirs = (os.path.join(p.repo_dir, "current") for p in (remembered, fresh))
        assert published_state(ours) == published_state(theirs)
        assert_repomd_consistent(ours)
    assert repoquery(ours) == {"ceilometer-9.0.1-1.noarch", "nova-12.0.2-1.noarch",
                               "glance-1.0-1.noarch", "glance-c-2.0-1.noarch",
                               *[f"glance-{c}-1.0-1.noarch" for c in "abdefg"]}


def test_a_snapshot_number_used_again_after_a_discard_shows_its_new_content(tmp_path, store, rpms):
    publisher = publish(tmp_path, store, ingest(store, tmp_path, rpms, "b1", "nova-12.0.0-1"))
    dropped = publisher.stage([ingest(store, tmp_path, rpms, "b2", "ceilometer-9.0.0-1")], {})
    publisher.discard(dropped)                       # its git landing failed
    kept = publisher.stage([ingest(store, tmp_path, rpms, "b3", "nova-12.0.1-1")], {})
    assert kept.number == dropped.number
    publisher.switch(kept)
    current = os.path.join(publisher.repo_dir, "current")
    assert repoquery(current) == {"nova-12.0.1-1.noarch"}
    assert [base(a.entry.path) for a in publisher.current_layer().artifacts()] == [
        "nova-12.0.1-1.noarch.rpm"]
    view = str(tmp_path / "view")
    materialise(view, "rpm", [publisher.current_layer(),
                              ingest(store, tmp_path, rpms, "b4", "glance-1.0-1")],
                store, pool=publisher.pool)
    assert repoquery(view) == {"nova-12.0.1-1.noarch", "glance-1.0-1.noarch"}


def test_a_directory_that_gains_a_subdirectory_stops_being_a_pooled_link(tmp_path, store):
    first = files_set(store, tmp_path, "b1", {"site/a.html": "a\n", "logs/x": "x\n"})
    publisher = publish(tmp_path, store, first, repo_type="files")
    view = tmp_path / "view"
    materialise(str(view), "files", [publisher.current_layer(),
                                     files_set(store, tmp_path, "b2", {"site/sub/b.html": "b\n"})],
                store, pool=publisher.pool)
    assert not os.path.islink(view / "site") and os.path.islink(view / "site" / "sub")
    assert (view / "site" / "a.html").read_text() == "a\n"
    assert (view / "site" / "sub" / "b.html").read_text() == "b\n"
    # the untouched directory is the published snapshot's own pooled one
    assert os.path.realpath(view / "logs") == os.path.realpath(
        os.path.join(publisher.repo_dir, "current", "logs"))
