"""`make demo`: a distgit gate from scratch, run to completion.

Creates DIR with a configuration (etc/gateq.yaml, layouts/distgit.yaml,
jobs/), two bare repositories (nova, ceilometer) sharing the `rdo` queue,
and a handful of changes: a nova version bump, a ceilometer change that
needs the new nova, a nova change whose tests fail, a ceilometer change that
conflicts, and a harmless docs change. It proposes and approves them all,
runs the gate until idle, and prints what landed, what was ejected and why.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from .cli import main as gateq
from .store import Store

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT_ENV = {"GIT_AUTHOR_NAME": "Demo Maintainer", "GIT_AUTHOR_EMAIL": "maint@example.org",
           "GIT_COMMITTER_NAME": "Demo Maintainer", "GIT_COMMITTER_EMAIL": "maint@example.org"}

PROJECTS = {
    "nova": {"version": "12.0.0\n", "run-tests": "#!/bin/sh\necho 'nova unit tests pass'\n"},
    "ceilometer": {"version": "9.0.0\n", "requires": "nova >= 12.0.0\n",
                   "run-tests": "#!/bin/sh\necho 'ceilometer unit tests pass'\n"},
}

# (project, ref, files changed, commit message)
CHANGES = [
    ("nova", "bump-12.0.1", {"version": "12.0.1\n"}, "Update nova to 12.0.1"),
    ("ceilometer", "needs-nova-12.0.1", {"requires": "nova >= 12.0.1\n", "version": "9.0.1\n"},
     "Require nova 12.0.1 for the new notification API"),
    ("nova", "broken-tests", {"run-tests": "#!/bin/sh\necho 'test_api: FAILED'\nexit 1\n"},
     "Refactor the API (breaks its tests)"),
    ("ceilometer", "other-bump", {"version": "9.1.0\n"}, "Bump ceilometer to 9.1.0 (conflicts)"),
    ("nova", "docs", {"README": "nova packaging for RDO\n"}, "Add a README"),
]


def git(*args: str, cwd: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def write_files(root: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(root, name)
        with open(path, "w") as f:
            f.write(text)
        if name == "run-tests":
            os.chmod(path, 0o755)


def make_config(demo: str) -> None:
    os.makedirs(os.path.join(demo, "layouts"))
    shutil.copy(os.path.join(HERE, "etc", "gateq.yaml"), os.path.join(demo, "gateq.yaml"))
    shutil.copy(os.path.join(HERE, "layouts", "distgit.yaml"), os.path.join(demo, "layouts"))
    shutil.copytree(os.path.join(HERE, "jobs"), os.path.join(demo, "jobs"))


def make_repositories(demo: str, scratch: str) -> None:
    """Bare repositories as a git server would hold them, and the changes as branches."""
    for project, files in PROJECTS.items():
        bare = os.path.join(demo, "repos", f"{project}.git")
        git("init", "-q", "--bare", "-b", "main", bare, cwd=demo)
        work = os.path.join(scratch, project)
        git("clone", "-q", bare, work, cwd=scratch)
        git("checkout", "-q", "-b", "main", cwd=work)
        write_files(work, files)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"Import {project}", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
    for project, ref, files, message in CHANGES:
        work = os.path.join(scratch, project)
        git("checkout", "-q", "-b", ref, "origin/main", cwd=work)
        write_files(work, files)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
        git("push", "-q", "origin", ref, cwd=work)


def run(demo: str) -> int:
    config = ["-c", demo]
    steps = [[*config, "validate"]]
    for project, ref, _, _ in CHANGES:
        steps.append([*config, "event", "proposed", "--project", project, "--change", ref])
    for project, ref, _, _ in CHANGES:
        steps.append([*config, "event", "approved", "--project", project, "--change", ref])
    for argv in steps:
        print("$ gateq " + " ".join(argv[2:]))
        if gateq(argv) != 0:
            return 1
    print("$ gateq run --until-idle")
    return gateq([*config, "run", "--until-idle"])


def summary(demo: str) -> None:
    print("\n$ gateq results")
    gateq(["-c", demo, "results"])
    store = Store(os.path.join(demo, "state"))
    gate = [r for r in store.results() if r["pipeline"] == "gate"]
    check = {r["change"]: r["result"] for r in store.results() if r["pipeline"] == "check"}
    print("\nThe gate, in the order items were reported:")
    for r in gate:
        what = f"landed as {r['commit'][:12]}" if r["result"] == "merged" else \
            f"ejected ({r['result']}): {r['reason']}"
        alone = f"  [tested alone in check: {check[r['change']]}]" if r["change"] in check else ""
        print(f"  {r['project']}:{r['change']}: {what}{alone}")
    print("ceilometer:needs-nova-12.0.1 fails alone (nova 12.0.0 on the branch) but lands in the\n"
          "gate, where it is tested on top of nova:bump-12.0.1 ahead of it.")
    for project in PROJECTS:
        bare = os.path.join(demo, "repos", f"{project}.git")
        print(f"\n$ git -C {os.path.relpath(bare)} log --oneline --first-parent main")
        print(git("log", "--oneline", "--first-parent", "main", cwd=bare))
    print(f"\nEverything is in {demo}: try `gateq -c {demo} results --json`, "
          f"or read a build's log under {demo}/state/logs/.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    demo = os.path.abspath(argv[0] if argv else "demo")
    shutil.rmtree(demo, ignore_errors=True)
    make_config(demo)
    with tempfile.TemporaryDirectory() as scratch:
        make_repositories(demo, scratch)
    status = run(demo)
    summary(demo)
    return status


if __name__ == "__main__":
    sys.exit(main())
