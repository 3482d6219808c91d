"""What a build checks out (issue 11): its own project, the projects its
speculative chain changes and its job's required-projects, each at the
item's speculative state, through the real engine, on either path a
workspace is made by (overlays on kept checkouts, or a clone per project)."""
from __future__ import annotations

import os

import pytest

from config_fixture import make_repository, refused, write
from gate_fixture import Gate, logged
from gateq.git.workspace import WorkspaceMode
from gateq.sandbox import probe_overlays
from unavailable import unavailable

PROJECTS = ("nova", "glance", "keystone")
REQUIRING = """\
- job: {name: integrate, run: jobs/check.sh, required-projects: [keystone],
        vars: {SEEN_DIR: %s}}
"""


@pytest.fixture(params=[WorkspaceMode.OVERLAY, WorkspaceMode.CLONE], ids=lambda m: m.name.lower())
def mode(request, tmp_path):
    """The workspace path the engine takes: overlays are probed, clones are
    what an engine takes where overlays cannot be mounted (forced by an
    unmountable state directory, a ':' in its path)."""
    if request.param is WorkspaceMode.OVERLAY:
        why = probe_overlays(str(tmp_path / "probe"))
        if why:
            unavailable(f"overlayfs cannot be mounted here: {why}")
        return tmp_path / "gate"
    return tmp_path / "gate:clones"


def files(g: Gate, build: str) -> dict[str, set[str]]:
    """{project: its files} as the build saw $GATEQ_WORKSPACE/src."""
    seen = os.path.join(g.seen, build)
    return {name[len("files-"):]: set(open(os.path.join(seen, name)).read().split())
            for name in os.listdir(seen) if name.startswith("files-")}


def builds_of(g: Gate, change: str, job: str = "check") -> str:
    return next(j["build"] for r in g.results() if r["change"] == change
                for j in r["jobs"] if j["name"] == job)


def test_a_build_checks_out_its_project_and_those_its_chain_changes(mode):
    g = Gate(mode, projects=PROJECTS)
    g.change("nova", "n1")
    g.change("glance", "g1")
    g.change("nova", "n2")
    for project, ref in (("nova", "n1"), ("glance", "g1"), ("nova", "n2")):
        g.approve(project, ref)
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 0, err
    assert g.landed("nova") == ["n1", "n2"] and g.landed("glance") == ["g1"]
    assert files(g, builds_of(g, "n1")) == {"nova": {"README", "n1.txt"}}
    assert files(g, builds_of(g, "g1")) == {"nova": {"README", "n1.txt"},
                                            "glance": {"README", "g1.txt"}}
    # keystone: in the queue, changed by no one ahead: not checked out
    assert files(g, builds_of(g, "n2")) == {"nova": {"README", "n1.txt", "n2.txt"},
                                            "glance": {"README", "g1.txt"}}
    expected = WorkspaceMode.OVERLAY if ":" not in str(mode) else WorkspaceMode.CLONE
    assert any(line.endswith(f"build workspaces: {expected.value}") or
               f"build workspaces: {expected.value} (" in line for line in logged(err, "INFO")), err


def test_required_projects_are_checked_out_at_the_speculative_state(mode):
    g = Gate(mode, projects=PROJECTS, project_jobs=("check", "integrate"),
             jobs=REQUIRING % os.path.join(str(mode), "seen"))
    g.change("keystone", "k1")
    g.change("glance", "g1")
    g.change("nova", "n1")
    for project, ref in (("keystone", "k1"), ("glance", "g1"), ("nova", "n1")):
        g.approve(project, ref)
    g.run()
    assert g.outcome() == {"k1": "merged", "g1": "merged", "n1": "merged"}
    # its own project, and keystone as the item ahead changed it
    assert files(g, builds_of(g, "n1", "integrate")) == {
        "nova": {"README", "n1.txt"}, "glance": {"README", "g1.txt"},
        "keystone": {"README", "k1.txt"}}
    g.change("nova", "n2")
    g.approve("nova", "n2")
    g.run()
    # nothing ahead: keystone as its branch has it, for the job that requires it only
    assert files(g, builds_of(g, "n2", "integrate")) == {
        "nova": {"README", "n1.txt", "n2.txt"}, "keystone": {"README", "k1.txt"}}
    assert files(g, builds_of(g, "n2", "check")) == {"nova": {"README", "n1.txt", "n2.txt"}}


def test_a_build_writes_to_its_own_checkout_only(mode):
    """Writes of one build (files changed, added, removed) are seen by no
    other build, also not by a build of the same commit run later."""
    g = Gate(mode, projects=("nova",))
    g.write_job("check.sh", """\
        #!/bin/sh
        set -eu
        seen="$SEEN_DIR/$GATEQ_BUILD"; mkdir -p "$seen"
        ls -A > "$seen/files-nova"
        echo scribbled > README && rm -f n1.txt && touch "left-by-$GATEQ_CHANGE"
        git status --porcelain > "$seen/status"
        """)
    g.change("nova", "n1")
    g.propose("nova", "n1")
    g.run()
    g.propose("nova", "n1")
    g.run()
    first, second = [j["build"] for r in g.results("check") for j in r["jobs"]]
    for build in (first, second):
        assert files(g, build)["nova"] == {".git", "README", "n1.txt"}
        status = open(os.path.join(g.seen, build, "status")).read().split("\n")
        assert set(status) == {" M README", " D n1.txt", "?? left-by-n1", ""}
    assert not os.path.exists(os.path.join(g.config, "state", "work", first))


def test_an_unknown_required_project_is_refused_with_its_line(tmp_path):
    layout = ("- pipeline: {name: check, manager: independent, trigger: {distgit: [{event: proposed}]}}\n"
              "- job:\n    name: unit\n    run: jobs/unit.sh\n    required-projects: [nova, neutron]\n"
              "- project: {name: nova, check: {jobs: [unit]}}\n")
    write(tmp_path, "gateq.yaml", "connections:\n  distgit:\n    driver: git\n    root: repos\n")
    write(tmp_path, "jobs/unit.sh", "#!/bin/sh\nexit 0\n", 0o755)
    write(tmp_path, "layouts/main.yaml", layout)
    make_repository(str(tmp_path / "repos" / "nova.git"))
    config = str(tmp_path)
    assert refused(config) == ["layouts/main.yaml:5: job 'unit': "
                               "unknown project 'neutron' in required-projects"]
