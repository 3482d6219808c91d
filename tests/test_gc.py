"""Garbage collection of the pool and the artifact store, with real rpms,
real snapshots read by dnf, and a real unprivileged user: after rounds of
landings only what kept snapshots, running builds' views and live builds use
stays on disk, and a collector stopped or killed at any step loses nothing
reachable. Pool directories are read-only to the jobs that see them."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from gateq.artifacts.gc import Collected, collect
from gateq.artifacts.snapshots import Publisher
from gateq.artifacts.store import ArtifactStore
from gateq.artifacts.view import materialise
from gateq.config.model import Config, Layout, Repository
from gateq.publishing import Artifacts
from rpm_fixture import build_rpms, repoquery, require_tools

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Root ignores permission bits: as root, act as user nobody (as CI does).
AS_USER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    """name-version-release -> path of every package the tests use."""
    require_tools()
    out = str(tmp_path_factory.mktemp("rpms"))
    built = []
    for version in ("12.0.0", "12.0.1", "12.0.2", "12.0.3"):
        built += build_rpms(out, "nova", version)
    built += build_rpms(out, "ceilometer", "9.0.0")
    built += build_rpms(out, "ceilometer", "9.0.1")
    built += build_rpms(out, "glance", "1.0", subpackages=tuple(f"glance-{c}" for c in "abcdef"))
    built += build_rpms(out, "keystone", "3.0")
    return {os.path.basename(p)[:-len(".noarch.rpm")]: p for p in built}


class World:
    """A state directory (store, build workspaces) and a publish root with
    one rpm repository, driven as the engine drives them."""

    def __init__(self, root: str, rpms: dict, keep: int = 2):
        self.root, self.rpms = root, rpms
        self.store = ArtifactStore(os.path.join(root, "state", "cas"))
        self.publisher = Publisher(os.path.join(root, "publish"), "rdo", "rpm", keep, self.store)
        self.shown: dict[str, list[dict]] = {}       # build -> the files its view shows

    def ingest(self, build: str, *names: str):
        src = os.path.join(self.root, "exports", build)
        os.makedirs(src)
        for name in names:
            shutil.copy(self.rpms[name], src)
        return self.store.ingest(build, "rpm", src, "rpm-build", f"change-{build}")

    def land(self, build: str, *names: str) -> int:
        """Stage, switch and prune, as a landing does; the snapshot number."""
        staged = self.publisher.stage([self.ingest(build, *names)], {})
        self.publisher.switch(staged)
        self.publisher.prune()
        return staged.number

    def view(self, build: str, *layers) -> str:
        """A running build's $GATEQ_REPOS, holding the repository's view."""
        repos = os.path.join(self.root, "state", "work", build, "repos")
        self.shown[build] = materialise(os.path.join(repos, "rdo"), "rpm",
                                        [self.publisher.current_layer(), *layers],
                                        self.store, pool=self.publisher.pool)["artifacts"]
        return repos

    def collect(self, live=(), views=(), **kwargs) -> Collected:
        return collect(self.store, [self.publisher.repo_dir], views, live, **kwargs)

    def snapshots(self) -> list[str]:
        return [self.publisher.path(n) for n in self.publisher.numbers()]


def landed_world(root: str, rpms: dict) -> World:
    """Six landings with keep=2: snapshots 5 and 6 stay, 1 to 4 were pruned."""
    world = World(root, rpms)
    world.land("b1", "nova-12.0.0-1", "ceilometer-9.0.0-1", "glance-1.0-1",
               *(f"glance-{c}-1.0-1" for c in "abcdef"))
    world.land("b2", "nova-12.0.1-1")
    world.land("b3", "ceilometer-9.0.1-1")
    world.land("b4", "nova-12.0.2-1")
    world.land("b5", "nova-12.0.3-1")
    world.land("b6", "keystone-3.0-1")
    return world


# -- what a user sees ---------------------------------------------------------

def manifest(snapshot: str) -> dict:
    with open(os.path.join(snapshot, "manifest.json")) as f:
        return json.load(f)


def assert_intact(snapshot: str, artifacts: list[dict] | None = None) -> None:
    """Every file of the snapshot (or view) is there with the content its
    manifest (or `artifacts`) says."""
    for artifact in manifest(snapshot)["artifacts"] if artifacts is None else artifacts:
        with open(os.path.join(snapshot, artifact["path"]), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == artifact["sha256"], artifact["path"]


def assert_readable(snapshot: str) -> None:
    """Intact, and dnf sees exactly the packages its manifest lists."""
    assert_intact(snapshot)
    assert repoquery(snapshot) == {f"{a['name']}-{a['version']}-{a['release']}.{a['arch']}"
                                   for a in manifest(snapshot)["artifacts"]}


def blobs_on_disk(store: ArtifactStore) -> set[str]:
    return {prefix + name for prefix in os.listdir(store.blobs)
            for name in os.listdir(os.path.join(store.blobs, prefix))}


def pool_dirs_on_disk(pool: str) -> set[str]:
    return {os.path.join(pool, prefix, name) for prefix in os.listdir(pool) if len(prefix) == 2
            for name in os.listdir(os.path.join(pool, prefix))}


def pool_dirs_linked(*trees: str) -> set[str]:
    """The pool directories the symlinks under `trees` point to."""
    return {os.path.realpath(os.path.join(d, name)) for tree in trees
            for d, dirs, files in os.walk(tree) for name in dirs + files
            if os.path.islink(os.path.join(d, name))}


def fragments_on_disk(store: ArtifactStore) -> set[str]:
    """The sha256 of the blobs that stored metadata fragments describe."""
    root = store.fragments.root
    return {prefix + name.split("-", 1)[0] for prefix in os.listdir(root)
            for name in os.listdir(os.path.join(root, prefix))}


def bytes_on_disk(*trees: str) -> int:
    """Size of the distinct files under `trees` (a hard-linked file counts once)."""
    seen = {}
    for tree in trees:
        for d, _, files in os.walk(tree):
            for name in files:
                st = os.lstat(os.path.join(d, name))
                if not os.path.islink(os.path.join(d, name)):
                    seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def shas(snapshot: str) -> set[str]:
    return {a["sha256"] for a in manifest(snapshot)["artifacts"]}


def listing(tree: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), tree)
            for d, dirs, files in os.walk(tree) for n in dirs + files}


# -- collection ---------------------------------------------------------------

def test_after_landings_only_what_kept_snapshots_and_live_sets_use_stays(tmp_path, rpms):
    world = landed_world(str(tmp_path), rpms)
    live = world.ingest("b7", "nova-12.0.2-1", "keystone-3.0-1")    # an item still in a queue
    store, pool = world.store, world.publisher.pool
    assert world.publisher.numbers() == [5, 6]
    before = bytes_on_disk(str(tmp_path / "state"), str(tmp_path / "publish"))
    assert len(pool_dirs_on_disk(pool)) > len(pool_dirs_linked(*world.snapshots()))

    collected = world.collect(live=["b7"])

    used = set().union(*(shas(s) for s in world.snapshots()))
    wanted = used | {e.sha256 for e in live.entries}
    assert blobs_on_disk(store) == wanted
    assert pool_dirs_on_disk(pool) == pool_dirs_linked(*world.snapshots())
    assert os.listdir(os.path.join(store.root, "sets")) == ["b7.json"]
    assert fragments_on_disk(store) <= wanted
    stored = sum(os.path.getsize(store.blob(sha)) for sha in wanted)
    assert bytes_on_disk(store.blobs) == stored
    after = bytes_on_disk(str(tmp_path / "state"), str(tmp_path / "publish"))
    assert collected.bytes_freed == before - after > 0
    assert (collected.sets, collected.leftovers) == (6, 0)
    assert collected.pool_dirs > 0 and collected.blobs == 3     # nova 12.0.0, 12.0.1, ceilometer 9.0.0
    assert "3 stored files" in collected.summary()
    for snapshot in world.snapshots():
        assert_readable(snapshot)
    assert world.collect(live=["b7"]) == Collected()                # nothing more to do

    world.collect(live=[])                                          # b7 left its queue unpublished
    assert blobs_on_disk(store) == used
    assert os.listdir(os.path.join(store.root, "sets")) == []


def test_a_running_builds_view_keeps_its_pool_directories_until_it_is_removed(tmp_path, rpms):
    world = World(str(tmp_path), rpms)
    world.land("b1", "nova-12.0.0-1", "ceilometer-9.0.0-1")
    own = world.ingest("b2", "nova-12.0.1-1")
    view = world.view("b2", own)
    seen = pool_dirs_linked(view) - pool_dirs_linked(*world.snapshots())
    assert len(seen) == 1                                    # nova's bucket, as this build sees it

    assert world.collect(views=[view]).pool_dirs == 0        # the build runs; its item left the queue
    assert seen <= pool_dirs_on_disk(world.publisher.pool)
    assert repoquery(os.path.join(view, "rdo")) == {"nova-12.0.1-1.noarch", "ceilometer-9.0.0-1.noarch"}

    shutil.rmtree(os.path.dirname(view))                     # the build ended: the engine removes it
    collected = world.collect()
    assert (collected.pool_dirs, collected.blobs) == (1, 1)
    assert not seen & pool_dirs_on_disk(world.publisher.pool)
    assert blobs_on_disk(world.store) == shas(world.snapshots()[0])
    assert_readable(world.snapshots()[0])


def test_a_staged_snapshot_awaiting_its_landing_survives(tmp_path, rpms):
    world = World(str(tmp_path), rpms, keep=1)
    world.land("b1", "nova-12.0.0-1")
    world.land("b2", "nova-12.0.1-1")
    staged = world.publisher.stage([world.ingest("b3", "nova-12.0.2-1", "keystone-3.0-1")], {})
    world.collect()                                          # not even b3 is said to be live
    assert world.publisher.numbers() == [2] and os.path.isdir(staged.staging)
    assert blobs_on_disk(world.store) == shas(world.publisher.path(2)) | shas(staged.staging)
    world.publisher.switch(staged)                           # git landed: publish it
    world.publisher.prune()
    assert_readable(os.path.join(world.publisher.repo_dir, "current"))
    world.collect()
    assert blobs_on_disk(world.store) == shas(staged.path)


def test_leftovers_of_interrupted_work_go_once_their_process_is_gone(tmp_path, rpms):
    world = World(str(tmp_path), rpms)
    world.land("b1", "nova-12.0.0-1")
    dead = _dead_pid()
    pool, tmp = world.publisher.pool, os.path.join(world.store.root, "tmp")
    os.makedirs(os.path.join(pool, f".tmp-{dead}-0123456789abcdef"))
    os.link(world.store.blob(next(iter(shas(world.snapshots()[0])))),
            os.path.join(pool, f".tmp-{dead}-0123456789abcdef", "nova.rpm"))
    os.makedirs(os.path.join(world.publisher.snapshots, f"2.tmp-{dead}", "repodata"))
    os.makedirs(os.path.join(world.publisher.snapshots, f"7.gone-{dead}", "repodata"))
    for name in (f"blob-{dead}", f"set-{dead}.json", f"blob-{os.getpid()}"):
        with open(os.path.join(tmp, name), "w") as f:
            f.write("partial")
    collected = world.collect()
    assert collected.leftovers == 5
    assert os.listdir(tmp) == [f"blob-{os.getpid()}"]         # this process may still be writing it
    assert os.listdir(world.publisher.snapshots) == ["1"]
    assert_readable(world.snapshots()[0])


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_collect_garbage_covers_every_repository_of_the_layout_with_one_store(tmp_path, rpms):
    layout = Layout(pipelines={}, jobs={}, projects={}, repositories={
        "rdo": Repository("rdo", "rpm", 1), "extras": Repository("extras", "rpm", 1)})
    config = Config(config_dir=str(tmp_path), path=str(tmp_path / "gateq.yaml"), connections={},
                    state_dir=str(tmp_path / "state"), slots=1, layout=layout,
                    publish_root=str(tmp_path / "publish"))
    artifacts = Artifacts(config)
    world = World(str(tmp_path), rpms, keep=1)                  # rdo, on the same store
    world.store = artifacts.store
    world.publisher = artifacts.publisher("rdo")
    world.land("b1", "nova-12.0.0-1")
    world.land("b2", "nova-12.0.1-1")
    extras = artifacts.publisher("extras")
    extras.switch(extras.stage([world.ingest("b3", "nova-12.0.0-1")], {}))   # the same package

    collected = artifacts.collect_garbage(live_builds=[], view_roots=[])
    assert collected.blobs == 0                                 # extras still uses nova 12.0.0
    assert blobs_on_disk(artifacts.store) == shas(world.snapshots()[0]) | shas(extras.path(1))
    extras.switch(extras.stage([world.ingest("b4", "nova-12.0.2-1")], {}))
    extras.prune()
    assert artifacts.collect_garbage(live_builds=[], view_roots=[]).blobs == 1
    for snapshot in (world.snapshots()[0], extras.path(2)):
        assert_readable(snapshot)


def test_a_files_repository_keeps_what_its_snapshots_hard_link_or_pool(tmp_path):
    store = ArtifactStore(str(tmp_path / "state" / "cas"))
    publisher = Publisher(str(tmp_path / "publish"), "docs", "files", 1, store)
    for version in ("1", "2"):
        src = tmp_path / "exports" / version
        (src / "guide").mkdir(parents=True)
        (src / "notes.txt").write_text(f"notes {version}\n")            # hard-linked
        (src / "guide" / "index.html").write_text(f"guide {version}\n")  # a pooled directory
        publisher.switch(publisher.stage([store.ingest(version, "files", str(src), "docs", "c")], {}))
        publisher.prune()
    collected = collect(store, [publisher.repo_dir], [], [])
    assert (collected.pool_dirs, collected.blobs) == (1, 2)
    current = publisher.path(2)
    assert blobs_on_disk(store) == shas(current)
    assert_intact(current)
    with open(os.path.join(current, "notes.txt")) as f:
        assert f.read() == "notes 2\n"


# -- interrupted collections --------------------------------------------------

class Stop(Exception):
    pass


def stop_at(step: int):
    """A before_removal hook stopping the collector just before step `step`."""
    seen = []

    def hook(path: str) -> None:
        seen.append(path)
        if len(seen) == step:
            raise Stop(path)
    return hook


def world_with_garbage(root: str, rpms: dict) -> tuple[World, str, list[dict]]:
    """Pruned snapshots' garbage, a live set, and a running build's view
    with what it shows."""
    world = landed_world(root, rpms)
    world.ingest("b7", "nova-12.0.2-1")
    view = world.view("b8", world.ingest("b8", "ceilometer-9.0.0-1"))
    return world, view, world.shown["b8"]


def reopen(root: str, rpms: dict) -> World:
    return World(root, rpms)


def test_a_collector_stopped_at_any_step_leaves_every_kept_snapshot_intact(tmp_path, rpms):
    world, view, shown = world_with_garbage(str(tmp_path / "world"), rpms)
    reference = str(tmp_path / "reference")
    subprocess.run(["cp", "-a", world.root, reference], check=True)
    steps = []
    reopen(reference, rpms).collect(live=["b7", "b8"], views=[view.replace(world.root, reference)],
                                    before_removal=steps.append)
    assert len(steps) > 20
    for step in range(1, len(steps) + 1):
        copy = str(tmp_path / f"run-{step}")
        subprocess.run(["cp", "-a", world.root, copy], check=True)
        stopped = reopen(copy, rpms)
        views = [view.replace(world.root, copy)]
        with pytest.raises(Stop):
            stopped.collect(live=["b7", "b8"], views=views, before_removal=stop_at(step))
        for snapshot in stopped.snapshots():
            assert_intact(snapshot)
        assert_intact(os.path.join(views[0], "rdo"), shown)
        # The gate goes on: a new build's view has the nova bucket snapshot 4
        # had, whose pool directory is garbage (maybe half collected).
        again = stopped.view("b9", stopped.ingest("b9", "nova-12.0.2-1"))
        assert_intact(os.path.join(again, "rdo"), stopped.shown["b9"])
        shutil.rmtree(os.path.dirname(again))
        shutil.rmtree(os.path.join(copy, "exports", "b9"))
        stopped.collect(live=["b7", "b8"], views=views)         # the next run finishes the job
        assert listing(copy) == listing(reference), f"stopped before {steps[step - 1]}"
        shutil.rmtree(copy)
    for snapshot in reopen(reference, rpms).snapshots():
        assert_readable(snapshot)


def test_a_collector_killed_halfway_through_a_pool_directory_loses_nothing(tmp_path, rpms):
    world, view, shown = world_with_garbage(str(tmp_path / "world"), rpms)
    steps = []
    subprocess.run(["cp", "-a", world.root, str(tmp_path / "dry")], check=True)
    reopen(str(tmp_path / "dry"), rpms).collect(live=["b7", "b8"], before_removal=steps.append,
                                                views=[view.replace(world.root, str(tmp_path / "dry"))])
    inside = next(i for i, path in enumerate(steps) if "/pool/" in path and "/.gc-" in path) + 2
    script = f"""
import os, signal, sys
sys.path[:0] = [{HERE!r}, {os.path.join(HERE, 'tests')!r}]
from test_gc import World
seen = []
def die(path):
    seen.append(path)
    if len(seen) == {inside}:
        os.kill(os.getpid(), signal.SIGKILL)
World({world.root!r}, {{}}).collect(live=["b7", "b8"], views=[{view!r}], before_removal=die)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    trash = [p for p in pool_dirs_on_disk(world.publisher.pool) if "/.gc-" in p]
    assert len(trash) == 1                                  # half emptied, aside from its key
    for snapshot in world.snapshots():
        assert_readable(snapshot)
    assert_intact(os.path.join(view, "rdo"), shown)
    assert world.collect(live=["b7", "b8"], views=[view]).leftovers == 1
    assert listing(world.root) == listing(str(tmp_path / "dry"))


# -- read-only pool directories -----------------------------------------------

@pytest.fixture
def shared_dir():
    """A directory another user can reach (pytest's tmp_path is private to root)."""
    path = tempfile.mkdtemp(prefix="gateq-gc-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def as_user(script: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(AS_USER + ["sh", "-c", script], cwd=cwd, capture_output=True, text=True)


def test_a_job_cannot_change_a_pool_directory_through_its_view(shared_dir, rpms):
    world = World(shared_dir, rpms)
    world.land("b1", "nova-12.0.0-1", "ceilometer-9.0.0-1")
    view = world.view("b2", world.ingest("b2", "nova-12.0.1-1"))
    # The engine and its jobs run as one unprivileged user, who owns everything.
    if AS_USER:
        subprocess.run(["chown", "-R", "65534:65534", shared_dir], check=True)
    repo = os.path.join(view, "rdo")
    bucket = os.path.dirname(next(a["path"] for a in manifest(world.snapshots()[0])["artifacts"]
                                  if a["name"] == "ceilometer"))
    rpm = os.path.join(bucket, "ceilometer-9.0.0-1.noarch.rpm")
    assert as_user(f"cat {rpm} > /dev/null && touch mine", repo).returncode == 0
    for attempt in (f"rm -f {rpm}", f"touch {bucket}/new.rpm", f"rm -rf {bucket}/",
                    f"mv {rpm} elsewhere.rpm", f"echo broken > {rpm}"):
        job = as_user(attempt, repo)
        assert job.returncode != 0 and "Permission denied" in job.stderr, attempt
    assert_readable(world.snapshots()[0])
    assert repoquery(repo) == {"nova-12.0.1-1.noarch", "ceilometer-9.0.0-1.noarch"}
    assert {oct(os.stat(d).st_mode & 0o777) for d in pool_dirs_on_disk(world.publisher.pool)} == {"0o555"}

    # The same user's collector deletes read-only pool directories nothing links.
    assert as_user(f"rm -r {os.path.dirname(view)}", shared_dir).returncode == 0
    script = (f"import sys; sys.path[:0] = [{HERE!r}, {os.path.join(HERE, 'tests')!r}]\n"
              f"from test_gc import World\n"
              f"print(World({shared_dir!r}, {{}}).collect().pool_dirs)\n")
    collector = subprocess.run(AS_USER + [sys.executable, "-c", script], capture_output=True, text=True)
    assert (collector.returncode, collector.stdout, collector.stderr) == (0, "1\n", "")
    assert pool_dirs_on_disk(world.publisher.pool) == pool_dirs_linked(world.snapshots()[0])
    assert_readable(world.snapshots()[0])
