"""`make demo`: an RDO-style distgit gate with publishing inside the gate.

Creates DIR with a configuration (etc/gateq.yaml, layouts/rdo.yaml, jobs/)
and two bare distgit repositories, nova and ceilometer, sharing the `rdo`
queue. First it gates the import of both packages (publishing snapshots 1
and 2), then a handful of changes: a nova bump, a ceilometer change that
needs the new nova, a nova change whose package does not install, a
ceilometer change that conflicts, and a harmless docs change. It prints
what landed, what was ejected and why, the snapshots published, and how to
install from the published repository.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

from .cli import main as gateq
from .state import open_store

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT_ENV = {"GIT_AUTHOR_NAME": "Demo Maintainer", "GIT_AUTHOR_EMAIL": "maint@example.org",
           "GIT_COMMITTER_NAME": "Demo Maintainer", "GIT_COMMITTER_EMAIL": "maint@example.org"}


def spec(name: str, version: str, requires: str = "") -> str:
    return f"""Name: {name}
Version: {version}
Release: 1
Summary: OpenStack {name} (gateq demo package)
License: ASL 2.0
BuildArch: noarch
Source0: {name}.conf

{requires}

%description
A small package standing in for {name} in the gateq demo.

%install
install -D -m 0644 %{{SOURCE0}} %{{buildroot}}/etc/{name}/{name}.conf

%files
%config /etc/{name}/{name}.conf
"""


IMPORTS = [
    ("nova", "import", {"nova.spec": spec("nova", "12.0.0"), "nova.conf": "[DEFAULT]\n"},
     "Import nova 12.0.0"),
    ("ceilometer", "import", {"ceilometer.spec": spec("ceilometer", "9.0.0", "Requires: nova >= 12.0.0"),
                              "ceilometer.conf": "[DEFAULT]\n"}, "Import ceilometer 9.0.0"),
]

# (project, ref, files changed, commit message)
CHANGES = [
    ("nova", "bump-12.0.1", {"nova.spec": spec("nova", "12.0.1")}, "Update nova to 12.0.1"),
    ("ceilometer", "needs-nova-12.0.1",
     {"ceilometer.spec": spec("ceilometer", "9.0.1", "Requires: nova >= 12.0.1")},
     "Require nova 12.0.1 for the new notification API"),
    ("nova", "does-not-install",
     {"nova.spec": spec("nova", "12.0.0", "Requires: python3-oslo-missing")},
     "Add a dependency that no repository provides"),
    ("ceilometer", "other-bump", {"ceilometer.spec": spec("ceilometer", "9.1.0", "Requires: nova >= 12.0.0")},
     "Bump ceilometer to 9.1.0 (conflicts with the change ahead)"),
    ("nova", "readme", {"README": "nova packaging for RDO\n"}, "Add a README"),
]


# Pushed at the end and left unapproved: the README's quick start gates it.
TRY_IT = ("nova", "my-fix", {"nova.spec": spec("nova", "12.0.2")}, "Update nova to 12.0.2")


def git(*args: str, cwd: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_config(demo: str) -> None:
    os.makedirs(os.path.join(demo, "layouts"))
    shutil.copy(os.path.join(HERE, "etc", "gateq.yaml"), os.path.join(demo, "gateq.yaml"))
    shutil.copy(os.path.join(HERE, "layouts", "rdo.yaml"), os.path.join(demo, "layouts"))
    shutil.copytree(os.path.join(HERE, "jobs"), os.path.join(demo, "jobs"))


def make_repositories(demo: str, scratch: str) -> None:
    """Bare distgit repositories as a git server holds them; changes as branches."""
    for project in ("nova", "ceilometer"):
        bare = os.path.join(demo, "repos", f"{project}.git")
        git("init", "-q", "--bare", "-b", "main", bare, cwd=demo)
        work = os.path.join(scratch, project)
        git("clone", "-q", bare, work, cwd=scratch)
        git("checkout", "-q", "-b", "main", cwd=work)
        with open(os.path.join(work, "sources"), "w") as f:
            f.write(f"{project} distgit\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"Create the {project} distgit", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)


def push_change(scratch: str, project: str, ref: str, files: dict, message: str) -> None:
    work = os.path.join(scratch, project)
    git("fetch", "-q", "origin", cwd=work)
    git("checkout", "-q", "-B", ref, "origin/main", cwd=work)
    for name, text in files.items():
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", ref, cwd=work)


def step(demo: str, *argv: str) -> None:
    print("$ gateq " + " ".join(argv), flush=True)
    if gateq(["-c", demo, *argv]) != 0:
        raise SystemExit(1)


def gate(demo: str, scratch: str, changes: list, propose: bool) -> None:
    for project, ref, files, message in changes:
        push_change(scratch, project, ref, files, message)
    for kind in (("proposed", "approved") if propose else ("approved",)):
        for project, ref, _, _ in changes:
            step(demo, "event", kind, "--project", project, "--change", ref)
        step(demo, "run", "--until-idle")


def summary(demo: str) -> None:
    print("\n$ gateq results")
    gateq(["-c", demo, "results"])
    results = open_store(os.path.join(demo, "state")).results()
    check = {r["change"]: r["result"] for r in results if r["pipeline"] == "check"}
    print("\nThe gate, in the order items were reported:")
    for r in (r for r in results if r["pipeline"] == "gate"):
        what = (f"landed as {r['commit'][:12]}, published in snapshot {r['snapshot']['rdo']}"
                if r["result"] == "merged" else f"ejected ({r['result']}): {r['reason']}")
        alone = f"  [alone in check: {check[r['change']]}]" if r["change"] in check else ""
        print(f"  {r['project']}:{r['change']}: {what}{alone}")
    print("ceilometer:needs-nova-12.0.1 fails alone in check (it needs nova 12.0.1, unpublished) but\n"
          "lands in the gate: its install test sees the nova package built by the item ahead.")
    snapshots = os.path.join(demo, "publish", "rdo", "snapshots")
    print("\nPublished snapshots (publish/rdo/snapshots/N/manifest.json):")
    for number in sorted(os.listdir(snapshots), key=int):
        with open(os.path.join(snapshots, number, "manifest.json")) as f:
            manifest = json.load(f)
        added = ", ".join(f"{c['project']}:{c['change']}" for c in manifest["changes"])
        rpms = " ".join(sorted(a["path"].rsplit("/", 1)[-1] for a in manifest["artifacts"]))
        print(f"  {number}: adds {added}; holds {rpms}")
    current = os.path.join(demo, "publish", "rdo", "current")
    print(f"\ncurrent -> {os.readlink(current)}. Install from it (here into a throwaway root) with:\n"
          f"  dnf -y --installroot=/tmp/rdo-root --releasever=rdo --setopt=reposdir=/nonexistent \\\n"
          f"      --repofrompath=rdo,file://{current} --repo=rdo --setopt=rdo.gpgcheck=0 install ceilometer")
    for project in ("nova", "ceilometer"):
        bare = os.path.join(demo, "repos", f"{project}.git")
        print(f"\n$ git -C {os.path.relpath(bare)} log --oneline --first-parent main")
        print(git("log", "--oneline", "--first-parent", "main", cwd=bare))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    demo = os.path.abspath(argv[0] if argv else "demo")
    shutil.rmtree(demo, ignore_errors=True)
    make_config(demo)
    with tempfile.TemporaryDirectory() as scratch:
        make_repositories(demo, scratch)
        step(demo, "validate")
        print("\n# 1. Import both packages: each landing publishes a snapshot")
        gate(demo, scratch, IMPORTS, propose=False)
        print("\n# 2. Five changes: proposed (check tests each alone), then approved (gate)")
        gate(demo, scratch, CHANGES, propose=True)
        push_change(scratch, *TRY_IT)
    summary(demo)
    print(f"\nOne change is left for you to gate ({TRY_IT[0]}:{TRY_IT[1]}, see the README's quick start):\n"
          f"  .venv/bin/gateq -c {os.path.relpath(demo)} event approved --project {TRY_IT[0]} "
          f"--change {TRY_IT[1]}\n"
          f"  .venv/bin/gateq -c {os.path.relpath(demo)} run --until-idle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
