"""A real gate in a temporary directory: bare git repositories, a config
directory, job scripts, and the gateq CLI driven as a user would."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap

from gateq.cli import main as gateq_main

GIT_ENV = {"GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.org"}

# The test job: fails when the tree has a FAIL-* file (a bad change breaks
# every state that includes it), sleeps SLEEP-<change> seconds,
# and records what it saw (its chain and every project's files) under seen/.
CHECK_JOB = """\
#!/bin/sh
set -eu
seen="$SEEN_DIR/$GATEQ_BUILD"
mkdir -p "$seen"
echo "$GATEQ_CHANGES" > "$seen/changes"
env | grep '^GATEQ_' | sort > "$seen/env"
pwd > "$seen/cwd"
for p in "$GATEQ_WORKSPACE"/src/*; do ls "$p" > "$seen/files-$(basename "$p")"; done
[ -f "SLEEP-$GATEQ_CHANGE" ] && sleep "$(cat "SLEEP-$GATEQ_CHANGE")"
[ -f "MOVE_BRANCH-$GATEQ_CHANGE" ] && sh "MOVE_BRANCH-$GATEQ_CHANGE"
if ls FAIL-* >/dev/null 2>&1; then echo "tests failed"; exit 1; fi
echo "tests passed"
"""

SPECIAL = ("FAIL", "SLEEP", "MOVE_BRANCH")   # per-change files the test job reads

BASE_LAYOUT = """\
- pipeline:
    name: check
    manager: independent
    trigger: {distgit: [{event: proposed}]}
- pipeline:
    name: gate
    manager: dependent
    trigger: {distgit: [{event: approved}]}
    success: {distgit: {merge: true}}
    window: %(window)s
- queue: {name: shared}
- job: {name: check, run: jobs/check.sh, timeout: %(timeout)s, vars: {SEEN_DIR: %(seen)s}}
"""


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


class Gate:
    def __init__(self, root, projects=("nova",), jobs: str = "", project_jobs=("check",),
                 window: int = 20, timeout: int = 60, slots: int = 4):
        self.root = str(root)
        self.config = os.path.join(self.root, "config")
        self.seen = os.path.join(self.root, "seen")
        os.makedirs(os.path.join(self.config, "layouts"))
        os.makedirs(os.path.join(self.config, "jobs"))
        os.makedirs(self.seen)
        self.write_job("check.sh", CHECK_JOB)
        with open(os.path.join(self.config, "gateq.yaml"), "w") as f:
            f.write(f"connections:\n  distgit:\n    driver: git\n    root: repos\n"
                    f"executor:\n  slots: {slots}\n")
        layout = BASE_LAYOUT % {"window": window, "timeout": timeout, "seen": self.seen} + jobs
        for p in projects:
            layout += (f"- project:\n    name: {p}\n    queue: shared\n"
                       f"    check: {{jobs: [{', '.join(project_jobs)}]}}\n"
                       f"    gate: {{jobs: [{', '.join(project_jobs)}]}}\n")
        with open(os.path.join(self.config, "layouts", "test.yaml"), "w") as f:
            f.write(layout)
        for p in projects:
            self.make_repo(p)

    def write_job(self, name: str, text: str) -> None:
        path = os.path.join(self.config, "jobs", name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        os.chmod(path, 0o755)

    def bare(self, project: str) -> str:
        return os.path.join(self.config, "repos", f"{project}.git")

    def work(self, project: str) -> str:
        return os.path.join(self.root, "work", project)

    def make_repo(self, project: str) -> None:
        git("init", "-q", "--bare", "-b", "main", self.bare(project), cwd=self.root)
        work = self.work(project)
        git("clone", "-q", self.bare(project), work, cwd=self.root)
        git("checkout", "-q", "-b", "main", cwd=work)
        self.commit(project, {"README": f"{project}\n"}, "Initial import")
        git("push", "-q", "origin", "main", cwd=work)

    def commit(self, project: str, files: dict[str, str], message: str) -> str:
        work = self.work(project)
        for name, text in files.items():
            path = os.path.join(work, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def change(self, project: str, ref: str, files: dict[str, str] | None = None,
               base: str = "origin/main", message: str | None = None) -> str:
        """A branch `ref` on top of `base` in the server repository."""
        work = self.work(project)
        git("fetch", "-q", "origin", cwd=work)
        git("checkout", "-q", "-B", ref, base, cwd=work)
        files = {(f"{k}-{ref}" if k in SPECIAL else k): v
                 for k, v in (files or {f"{ref}.txt": ref + "\n"}).items()}
        rev = self.commit(project, files, message or f"Change {ref}")
        git("push", "-q", "-f", "origin", ref, cwd=work)
        return rev

    # -- the CLI ----------------------------------------------------------------

    def gateq(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = gateq_main(["-c", self.config, *args])
        return rc, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        rc, out, err = self.gateq(*args)
        assert rc == 0, f"gateq {' '.join(args)} exited {rc}: {err}"
        return out

    def approve(self, project: str, ref: str) -> None:
        self.ok("event", "approved", "--project", project, "--change", ref)

    def propose(self, project: str, ref: str) -> None:
        self.ok("event", "proposed", "--project", project, "--change", ref)

    def run(self) -> None:
        self.ok("run", "--until-idle")

    def cli_subprocess(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "gateq.cli", "-c", self.config, *args], **kw)

    # -- what a user looks at ---------------------------------------------------

    def results(self, pipeline: str | None = "gate") -> list[dict]:
        records = json.loads(self.ok("results", "--json"))
        return [r for r in records if pipeline is None or r["pipeline"] == pipeline]

    def outcome(self, pipeline: str = "gate") -> dict[str, str]:
        return {r["change"]: r["result"] for r in self.results(pipeline)}

    def landed(self, project: str = "nova", branch: str = "main") -> list[str]:
        """Subjects of the changes that landed, oldest first (merge commits' second parents)."""
        subjects = git("log", "--reverse", "--first-parent", "--format=%s", branch, cwd=self.bare(project))
        return [s.split(" ")[1].split(":")[1] for s in subjects.splitlines() if s.startswith("Merge ")]

    def tip(self, project: str = "nova", branch: str = "main") -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare(project))

    def seen_builds(self, ref: str, project: str = "nova") -> list[str]:
        """The builds of this change that ran, in the order they started."""
        builds = []
        for build in sorted(os.listdir(self.seen), key=lambda b: os.path.getmtime(os.path.join(self.seen, b))):
            try:
                with open(os.path.join(self.seen, build, "changes")) as f:
                    words = f.read().split()
            except FileNotFoundError:        # the job made its directory, not yet the file
                continue
            if words and words[-1] == f"{project}:{ref}":
                builds.append(build)
        return builds

    def seen_chains(self, ref: str, project: str = "nova") -> list[str]:
        """GATEQ_CHANGES of every build of this change, in the order they ran."""
        return [open(os.path.join(self.seen, b, "changes")).read().strip()
                for b in self.seen_builds(ref, project)]

    def seen_files(self, ref: str, project: str = "nova") -> set[str]:
        """The files of `project` that the last build of `ref` saw."""
        build = self.seen_builds(ref, project)[-1]
        return set(open(os.path.join(self.seen, build, f"files-{project}")).read().split())


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def logged(stderr: str, level: str | None = None) -> list[str]:
    """The messages an engine logged on stderr (`DATE TIME LEVEL message`),
    of one level or all; lines that are not log records are left out."""
    messages = []
    for line in stderr.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in LEVELS and (level is None or parts[2] == level):
            messages.append(parts[3])
    return messages


def not_logged(stderr: str) -> list[str]:
    """The lines of stderr that are not log records: what a command said."""
    return [line for line in stderr.splitlines()
            if not (len(line.split(" ", 3)) == 4 and line.split(" ", 3)[2] in LEVELS)]


def wait_until(condition, what: str, timeout: float = 60.0, every: float = 0.05):
    """Poll `condition` until it returns something true, or fail naming `what`."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
