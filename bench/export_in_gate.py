"""In-gate export against the serialised export at the tip of the gate.

The same ten non-conflicting changes, with an export job that dominates job
time, go through the real engine (real git, real job processes) twice:

- gateq: the dependent queue with its default window; every item exports
  speculatively and lands, publishing a snapshot, as soon as the items ahead
  have landed.
- serial: the window fixed at 1, the usual fix (export at the tip of the
  gate, wait for it): one item at a time, export included.

Prints the time to land all changes and the ratio, then checks that every
published snapshot agrees with git: its manifest's commit is the branch tip
that landed with it, and its files are exactly the exports of the changes
landed up to that commit.

    python bench/export_in_gate.py [--changes 10] [--export-seconds 3]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gateq.cli import main as gateq  # noqa: E402

ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}

LAYOUT = """\
- pipeline:
    name: gate
    manager: dependent
    trigger: {{distgit: [{{event: approved}}]}}
    success: {{distgit: {{merge: true}}}}
    window: {window}
    window-floor: {floor}
    window-ceiling: {ceiling}
- repository: {{name: packages, type: files}}
- job: {{name: unit, run: jobs/unit.sh}}
- job: {{name: export, run: jobs/export.sh, export: packages, vars: {{SECONDS_: "{seconds}"}}}}
- project: {{name: distgit, gate: {{jobs: [unit, export]}}}}
"""


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_gate(root: str, changes: int, seconds: float, window: int, serial: bool) -> str:
    config = os.path.join(root, "config")
    os.makedirs(os.path.join(config, "layouts"))
    os.makedirs(os.path.join(config, "jobs"))
    with open(os.path.join(config, "gateq.yaml"), "w") as f:
        f.write(f"connections:\n  distgit: {{driver: git, root: repos}}\n"
                f"executor: {{slots: {2 * changes + 2}}}\n")
    with open(os.path.join(config, "layouts", "bench.yaml"), "w") as f:
        f.write(LAYOUT.format(window=1 if serial else window, floor=1 if serial else 3,
                              ceiling=1 if serial else window, seconds=seconds))
    jobs = {"unit.sh": "#!/bin/sh\ntest -f README\n",
            "export.sh": '#!/bin/sh\nsleep "$SECONDS_"\n'
                         'echo "$GATEQ_CHANGE" > "$GATEQ_ARTIFACTS/$GATEQ_CHANGE.pkg"\n'}
    for name, text in jobs.items():
        with open(os.path.join(config, "jobs", name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(config, "jobs", name), 0o755)
    bare = os.path.join(config, "repos", "distgit.git")
    git("init", "-q", "--bare", "-b", "main", bare, cwd=root)
    work = os.path.join(root, "work")
    git("clone", "-q", bare, work, cwd=root)
    git("checkout", "-q", "-b", "main", cwd=work)
    with open(os.path.join(work, "README"), "w") as f:
        f.write("distgit\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "import", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    for i in range(changes):
        git("checkout", "-q", "-B", f"c{i}", "origin/main", cwd=work)
        with open(os.path.join(work, f"c{i}.spec"), "w") as f:
            f.write(f"change {i}\n")
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", f"change {i}", cwd=work)
        git("push", "-q", "origin", f"c{i}", cwd=work)
    return config


def quiet(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return gateq(list(argv))


def run(config: str, changes: int) -> float:
    for i in range(changes):
        assert quiet("-c", config, "event", "approved", "--project", "distgit", "--change", f"c{i}") == 0
    started = time.monotonic()
    assert quiet("-c", config, "run", "--until-idle") == 0
    return time.monotonic() - started


def check_snapshots_agree_with_git(config: str) -> int:
    """Every snapshot: commit on the branch, files = exports landed up to it."""
    bare = os.path.join(config, "repos", "distgit.git")
    history = git("rev-list", "--first-parent", "--reverse", "main", cwd=bare).split()
    landed_at = {}
    for commit in history:
        subject = git("log", "-1", "--format=%s", commit, cwd=bare)
        if subject.startswith("Merge distgit:"):
            landed_at[commit] = subject.split()[1].split(":")[1]
    snapshots = os.path.join(config, "publish", "packages", "snapshots")
    for number in sorted(os.listdir(snapshots), key=int):
        with open(os.path.join(snapshots, number, "manifest.json")) as f:
            manifest = json.load(f)
        commit = manifest["projects"][0]["commit"]
        upto = history[:history.index(commit) + 1]
        expected = {f"{landed_at[c]}.pkg" for c in upto if c in landed_at}
        files = {a["path"] for a in manifest["artifacts"]}
        assert files == expected, f"snapshot {number} holds {files}, git says {expected}"
    tip = git("rev-parse", "main", cwd=bare)
    with open(os.path.join(config, "publish", "packages", "current", "manifest.json")) as f:
        assert json.load(f)["projects"][0]["commit"] == tip, "current disagrees with the branch tip"
    return len(os.listdir(snapshots))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--export-seconds", type=float, default=3.0)
    args = parser.parse_args()
    times = {}
    for name, serial in (("gateq", False), ("serial", True)):
        with tempfile.TemporaryDirectory() as root:
            config = make_gate(root, args.changes, args.export_seconds, 20, serial)
            times[name] = run(config, args.changes)
            snapshots = check_snapshots_agree_with_git(config)
        print(f"{name:7s} landed {args.changes} changes in {times[name]:6.2f} s; "
              f"{snapshots} snapshots, every one agrees with git")
    print(f"in-gate export lands them {times['serial'] / times['gateq']:.1f}x sooner "
          f"than the serialised export (target: at least 6x)")


if __name__ == "__main__":
    main()
