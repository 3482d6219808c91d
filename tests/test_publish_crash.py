"""Kill the engine, as kill -9 does, at every step of a landing that
publishes, start it again, and check what a user sees: every good change
landed once and in order, the snapshots on disk are exactly those of the
landed items, numbered in landing order, each manifest names the commits on
the branches right after its landing, `current` is the newest, the
collector left exactly what the kept snapshots use, and a further start
changes nothing. Also kill starts while they recover, step after step.

The gate: projects nova and glance, two `files` repositories (docs, extras;
keep 2) each fed by one cheap export job. Changes `first` and `second` have
landed (snapshots 1 and 2); `a` (nova) and `b` (glance) are approved.
b's jobs push to glance outside gateq, so b's first landing fails its
compare-and-swap and discards its stagings; it lands on the second try.
"""
import copy
import glob
import hashlib
import json
import os
import subprocess

import pytest

from gate_fixture import Gate, git, not_logged
from gateq.artifacts.failpoints import EXIT_CODE, RECOVERY, RECOVERY_ONLY, Failpoint

REPOSITORIES = ("docs", "extras")
KEEP = 2
LAYOUT = """\
- repository: {name: docs, type: files, keep: %(keep)s}
- repository: {name: extras, type: files, keep: %(keep)s}
- job: {name: docs, run: jobs/export.sh, export: docs, timeout: 60}
- job: {name: extras, run: jobs/export.sh, export: extras, timeout: 60}
""" % {"keep": KEEP}

# pages/ holds only files, so snapshots link it from the pool; latest.txt is
# a hard link from the store. Each build notes what its repository's
# snapshots/ held when it started.
EXPORT_JOB = """\
#!/bin/sh
set -eu
ls "$GATEQ_CONFIG_DIR/publish/$GATEQ_JOB/snapshots" > "$GATEQ_CONFIG_DIR/../listed-$GATEQ_BUILD" \
    2>/dev/null || true
mkdir -p "$GATEQ_ARTIFACTS/pages"
echo "$GATEQ_CHANGE" > "$GATEQ_ARTIFACTS/pages/$GATEQ_CHANGE.html"
echo "$GATEQ_CHANGE by $GATEQ_JOB" > "$GATEQ_ARTIFACTS/latest.txt"
if [ -f "MOVE_BRANCH-$GATEQ_CHANGE" ]; then sh "MOVE_BRANCH-$GATEQ_CHANGE"; fi
"""

# Once per gate (the first of b's jobs to get here): a commit pushed onto
# glance's main outside gateq.
MOVER = """\
mkdir "$GATEQ_CONFIG_DIR/../moved" 2>/dev/null || exit 0
bare="$GATEQ_CONFIG_DIR/repos/glance.git"
tree=$(git -C "$bare" rev-parse 'main^{tree}')
new=$(GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@x GIT_COMMITTER_NAME=o GIT_COMMITTER_EMAIL=o@x \\
      git -C "$bare" commit-tree -p main -m "pushed outside gateq" "$tree")
git -C "$bare" update-ref refs/heads/main "$new"
"""

LANDED = ["first", "second", "a", "b"]
LANDING_POINTS = [p for p in Failpoint if p not in RECOVERY_ONLY]
# Kills after which a start has something to finish, roll back or remove.
RECOVERED_POINTS = [Failpoint.STAGED, Failpoint.INTENT_TMP, Failpoint.INTENT_WRITTEN,
                    Failpoint.AFTER_LAND, Failpoint.PRUNING, Failpoint.LAND_FAILED]


@pytest.fixture(scope="module")
def landed_twice(tmp_path_factory) -> Gate:
    g = Gate(tmp_path_factory.mktemp("baseline"), projects=("nova", "glance"), jobs=LAYOUT,
             project_jobs=REPOSITORIES)
    g.write_job("export.sh", EXPORT_JOB)
    g.change("nova", "first")
    g.change("glance", "second")
    g.change("nova", "a")
    g.change("glance", "b", {"b.txt": "b\n", "MOVE_BRANCH": MOVER})
    g.approve("nova", "first")
    g.approve("glance", "second")
    g.run()
    g.approve("nova", "a")                     # recorded, not yet run
    g.approve("glance", "b")
    return g


@pytest.fixture
def gate(landed_twice, tmp_path) -> Gate:
    """A copy of that gate (nothing in it names its own directory but the
    work clones, which the tests do not use)."""
    root = str(tmp_path / "gate")
    subprocess.run(["cp", "-a", landed_twice.root, root], check=True)
    g = copy.copy(landed_twice)
    g.root, g.config, g.seen = root, os.path.join(root, "config"), os.path.join(root, "seen")
    return g


def run_engine(g: Gate, failpoint: str) -> subprocess.CompletedProcess:
    """`gateq run --until-idle` in its own process, dying at `failpoint`."""
    proc = g.cli_subprocess("run", "--until-idle", env={**os.environ, "GATEQ_FAILPOINT": failpoint},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_at(g: Gate, failpoint: str) -> None:
    died = run_engine(g, failpoint)
    assert died.returncode == EXIT_CODE, (
        f"never reached failpoint {failpoint} (exit {died.returncode}): {died.stderr[-2000:]}")


# -- tests ----------------------------------------------------------------------

@pytest.mark.parametrize("point", [p.value for p in LANDING_POINTS])
def test_a_kill_at_each_step_of_a_landing_is_repaired_by_the_next_start(gate, point):
    kill_at(gate, point)
    assert_every_number_is_a_landing(gate)
    gate.run()
    assert_published_history(gate)
    assert_a_further_start_changes_nothing(gate)


@pytest.mark.parametrize("point", [p.value for p in RECOVERED_POINTS])
def test_a_start_killed_at_each_step_of_its_recovery_is_repaired_by_the_next(gate, point):
    kill_at(gate, point)
    kills = []
    while len(kills) < 40:
        died = run_engine(gate, f"{RECOVERY}#{len(kills) + 1}")   # one step further each time
        if died.returncode != EXIT_CODE:
            break
        kills.append(died.stderr.rsplit("failpoint ", 1)[1].split(":")[0])
        assert_every_number_is_a_landing(gate)
        if kills[-1] == Failpoint.SWEPT.value:         # the intent is dealt with before
            assert not glob.glob(os.path.join(gate.config, "state", "publish-intent*"))
    assert died.returncode == 0, died.stderr[-2000:]
    assert kills, "the start after the kill had nothing to recover"
    if point in (Failpoint.STAGED.value, Failpoint.INTENT_TMP.value):
        assert kills[0] == Failpoint.SWEPT.value
    assert_published_history(gate)
    assert_a_further_start_changes_nothing(gate)


def test_an_intent_that_outlived_its_landing_changes_nothing(gate):
    """Say a power loss brought back the intent of a's landing after b's:
    nova is still at a's commit, but `current` must not go back to a's."""
    gate.run()
    a = next(r for r in gate.results() if r["change"] == "a")
    intent = {"item": a["item"], "project": "nova", "branch": "main", "new": a["commit"],
              "time": 0, "snapshots": [{"repository": repo, "number": 3, "staging": "3.tmp-1"}
                                       for repo in REPOSITORIES]}
    with open(os.path.join(gate.config, "state", "publish-intent.json"), "w") as f:
        json.dump(intent, f)
    assert_a_further_start_changes_nothing(gate)
    assert_published_history(gate)


def test_an_unreadable_intent_stops_the_start_in_one_line_and_removing_it_is_safe(gate):
    kill_at(gate, Failpoint.AFTER_LAND.value)              # a's branch moved, nothing published
    intent = os.path.join(gate.config, "state", "publish-intent.json")
    with open(intent, "w") as f:
        f.write('{"item": 3, "proj')
    rc, _, err = gate.gateq("run", "--until-idle")
    assert rc == 3 and not_logged(err) == [
        f"gateq: error: engine stopped: {intent}: cannot read the intent of an interrupted "
        "landing (JSONDecodeError: Unterminated string starting at: line 1 column 13 (char 12)); "
        "remove it, and the next start drops what that landing staged and retries it"]
    os.unlink(intent)
    gate.run()
    assert_published_history(gate)


def test_every_failpoint_is_reached_where_its_test_expects_it():
    """A new step gets a failpoint in Failpoint and thereby a test above,
    which fails unless a landing reaches it; a point only recovery reaches
    needs its own check in the recovery test (SWEPT has one)."""
    assert RECOVERY_ONLY == {Failpoint.SWEPT}
    sources = ""
    for directory, _, files in os.walk(os.path.join(os.path.dirname(__file__), "..", "gateq")):
        for name in files:
            if name.endswith(".py") and name != "failpoints.py":
                with open(os.path.join(directory, name)) as f:
                    sources += f.read()
    for point in Failpoint:                         # each is somewhere on the way
        assert f"Failpoint.{point.name}" in sources, point


# -- what a user sees -------------------------------------------------------------

def publish_dir(g: Gate, repo: str) -> str:
    return os.path.join(g.config, "publish", repo)


def manifest(path: str) -> dict:
    with open(os.path.join(path, "manifest.json")) as f:
        return json.load(f)


def assert_current_is_complete(g: Gate, repo: str) -> None:
    """What a reader of `current` gets: every file its manifest lists, intact."""
    current = os.path.join(publish_dir(g, repo), "current")
    for artifact in manifest(current)["artifacts"]:
        with open(os.path.join(current, artifact["path"]), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == artifact["sha256"], artifact["path"]


def assert_every_number_is_a_landing(g: Gate) -> None:
    """What a reader of the publish root sees, even while the engine is down:
    a numbered snapshot only once its change is on the branch, and a
    complete `current`."""
    for repo in REPOSITORIES:
        snapshots = os.path.join(publish_dir(g, repo), "snapshots")
        for name in filter(str.isdigit, os.listdir(snapshots)):
            for change in manifest(os.path.join(snapshots, name))["changes"]:
                assert change["commit"] in first_parent_line(g, change["project"]), (
                    f"{repo} snapshot {name} of {change['change']}, which did not land")
        assert_current_is_complete(g, repo)


def first_parent_line(g: Gate, project: str) -> list[str]:
    return git("rev-list", "--first-parent", "--reverse", "main", cwd=g.bare(project)).split()


def assert_published_history(g: Gate) -> None:
    merged = [r for r in g.results() if r["result"] == "merged"]
    assert [r["change"] for r in merged] == LANDED                  # each once, in order
    assert {r["change"]: r["result"] for r in g.results()} == dict.fromkeys(LANDED, "merged")
    assert (g.landed("nova"), g.landed("glance")) == (["first", "a"], ["second", "b"])
    assert "pushed outside gateq" in git("log", "--format=%s", "main", cwd=g.bare("glance"))
    lines = {p: first_parent_line(g, p) for p in ("nova", "glance")}
    state = {p: line[0] for p, line in lines.items()}     # the branches right after each landing
    states = []
    for result in merged:
        assert result["commit"] in lines[result["project"]]
        state = {**state, result["project"]: result["commit"]}
        states.append(state)
    kept = list(range(len(LANDED) - KEEP + 1, len(LANDED) + 1))
    for repo in REPOSITORIES:
        root = publish_dir(g, repo)
        assert sorted(os.listdir(root)) == ["current", "pool", "snapshots"]
        assert sorted(os.listdir(os.path.join(root, "snapshots")), key=int) == list(map(str, kept))
        assert os.readlink(os.path.join(root, "current")) == f"snapshots/{kept[-1]}"
        for number in kept:
            assert_snapshot(g, repo, number, merged, states[number - 1])
        assert_current_is_complete(g, repo)
    assert [r["snapshot"] for r in merged] == [dict.fromkeys(REPOSITORIES, n)
                                               for n in range(1, len(LANDED) + 1)]
    assert_nothing_unreachable(g)
    assert_no_staging_outlived_the_refused_landing(g, merged[-1]["item"])


def assert_no_staging_outlived_the_refused_landing(g: Gate, item: int) -> None:
    """b's builds after its refused landing (generation 1 on) saw only
    numbered snapshots: that landing's stagings went at once."""
    listed = [name for name in os.listdir(g.root) if name.startswith(f"listed-{item}-")
              and int(name.split("-")[2]) > 0]
    assert listed
    for name in listed:
        with open(os.path.join(g.root, name)) as f:
            entries = f.read().split()
        assert all(entry.isdigit() for entry in entries), (name, entries)


def assert_snapshot(g: Gate, repo: str, number: int, merged: list[dict], state: dict) -> None:
    """Snapshot `number` is the one the number-th landing published: its
    change, the branch tips right after it, and the files of every change
    landed up to it."""
    path = os.path.join(publish_dir(g, repo), "snapshots", str(number))
    m = manifest(path)
    result = merged[number - 1]
    assert (m["snapshot"], m["parent"]) == (number, number - 1 or None)
    assert [(c["change"], c["commit"], c["item"]) for c in m["changes"]] == [
        (result["change"], result["commit"], result["item"])]
    assert {p["project"]: p["commit"] for p in m["projects"]} == state
    expected = {f"pages/{r['change']}.html": f"{r['change']}\n" for r in merged[:number]}
    expected["latest.txt"] = f"{result['change']} by {repo}\n"
    assert {a["path"]: a["change"].split(":")[1] for a in m["artifacts"]} == {
        "latest.txt": result["change"], **{p: p[6:-5] for p in expected if p.startswith("pages/")}}
    for relative, text in expected.items():
        with open(os.path.join(path, relative)) as f:
            assert f.read() == text, relative


def assert_nothing_unreachable(g: Gate) -> None:
    """The store holds exactly the files the kept snapshots use, each pool
    exactly the directories they link, and nothing half-done is left."""
    state = os.path.join(g.config, "state")
    cas = os.path.join(state, "cas")
    used, linked, pooled = set(), set(), set()
    for repo in REPOSITORIES:
        root = publish_dir(g, repo)
        for number in os.listdir(os.path.join(root, "snapshots")):
            snapshot = os.path.join(root, "snapshots", number)
            used |= {a["sha256"] for a in manifest(snapshot)["artifacts"]}
            linked |= {os.path.realpath(os.path.join(d, n)) for d, dirs, files in os.walk(snapshot)
                       for n in dirs + files if os.path.islink(os.path.join(d, n))}
        pool = os.path.join(root, "pool")
        pooled |= {os.path.join(pool, prefix, key) for prefix in os.listdir(pool)
                   for key in os.listdir(os.path.join(pool, prefix))}
    blobs = os.path.join(cas, "sha256")
    assert {p + n for p in os.listdir(blobs) for n in os.listdir(os.path.join(blobs, p))} == used
    assert pooled == linked
    assert (os.listdir(os.path.join(cas, "sets")), os.listdir(os.path.join(cas, "tmp"))) == ([], [])
    assert not [n for n in os.listdir(state) if n.startswith("publish-intent")]


def tree_listing(*roots: str) -> dict:
    """Every path under `roots` with what identifies it: a rewritten file
    or a moved link shows."""
    listing = {}
    for root in roots:
        for d, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(d, name)
                st = os.lstat(path)
                listing[path] = (st.st_ino, st.st_size, st.st_mtime_ns,
                                 os.readlink(path) if os.path.islink(path) else None)
    return listing


def assert_a_further_start_changes_nothing(g: Gate) -> None:
    roots = (os.path.join(g.config, "publish"), os.path.join(g.config, "state", "cas"))
    before = tree_listing(*roots), g.results(), [first_parent_line(g, p) for p in ("nova", "glance")]
    g.run()
    after = tree_listing(*roots)
    changed = sorted(path for path in before[0].keys() | after.keys()
                     if before[0].get(path) != after.get(path))
    assert not changed, f"a further start changed {changed}"
    assert (g.results(), [first_parent_line(g, p) for p in ("nova", "glance")]) == before[1:]
