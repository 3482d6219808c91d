"""A real gate on the Gerrit stand-in: a configuration directory with a
gerrit connection (and a git one beside it), a job that records what it
saw, and `gateq serve` running in a process of its own, read as a user
reads it (`gateq results`, `gateq status`, its log) and through what the
stand-in shows (the change merged, the votes and messages gateq left).

    gate = GerritGate(tmp_path, gerrit, ["nova"])
    with gate.serving():
        change = gate.upload("nova", {"a.txt": "1"}, "Add a")
        gate.approve(change)
        gate.wait_result(change, "merged")
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

from gateq.cli import main as gateq_main
from gate_fixture import git, wait_until

from .fixtures import Site
from .standin import Uploaded

# Records its environment, fails when the tree has a FAIL file, sleeps
# when it has a SLEEP file (its seconds), waits while a HOLD file exists.
JOB = """\
#!/bin/sh
set -eu
seen="$SEEN_DIR/$GATEQ_BUILD"
mkdir -p "$seen"
env | grep '^GATEQ_' | sort > "$seen/env"
for p in "$GATEQ_WORKSPACE"/src/*; do ls "$p" > "$seen/files-$(basename "$p")"; done
[ -f SLEEP ] && sleep "$(cat SLEEP)"
while [ -f "$SEEN_DIR/HOLD" ]; do sleep 0.05; done
if [ -f FAIL ]; then echo "tests failed"; exit 1; fi
echo "tests passed"
"""

CHECK = """\
- pipeline:
    name: check
    manager: independent
    trigger:
      review:
        - event: patchset-created
        - event: comment-added
          comment: (?i)^\\s*recheck\\s*$
    success: {review: {Verified: 1}}
    failure: {review: {Verified: -1}}
"""

GATE = """\
- pipeline:
    name: gate
    manager: dependent
    require:
      review: {approval: [{Code-Review: 2}], open: true, current-patchset: true}
    trigger:
      review: [{event: comment-added, approval: [{Workflow: 1}]}]
      distgit: [{event: approved}]
    success: {review: {Verified: 2, submit: true}, distgit: {merge: true}}
    failure: {review: {Verified: -2}}
"""

APPROVE = {"Code-Review": 2, "Workflow": 1}
_names = itertools.count(1)


def unique(name: str) -> str:
    """A project name no other test on the module's stand-in uses."""
    return f"{name}-{next(_names)}"


class GerritGate:
    def __init__(self, root, site: Site, projects=("nova",), git_projects=(),
                 connection: str = "", queue: str = "- queue: {name: shared}\n",
                 pipelines: str = CHECK + GATE, jobs: str = "") -> None:
        self.root, self.site, self.standin = str(root), site, site.standin
        self.config = os.path.join(self.root, "config")
        self.seen = os.path.join(self.root, "seen")
        self.projects = list(projects)
        for name in ("layouts", "jobs", "repos"):
            os.makedirs(os.path.join(self.config, name))
        os.makedirs(self.seen)
        self.write_job("check.sh", JOB)
        self.write("gateq.yaml", self.server_yaml(connection))
        layout = pipelines + queue + jobs + (
            f"- job: {{name: check, run: jobs/check.sh, timeout: 60, vars: {{SEEN_DIR: {self.seen}}}}}\n")
        names = re.findall(r"- pipeline:\n    name: (\S+)", pipelines)
        for p in self.projects:
            self.standin.create_project(p)
            layout += self.project_yaml(p, "review", names)
        for p in git_projects:
            self.make_git_repo(p)
            layout += self.project_yaml(p, "distgit", names)
        self.write("layouts/test.yaml", layout)
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.root, "engine.log")

    def server_yaml(self, extra: str) -> str:
        site = self.site
        return textwrap.dedent(f"""\
            connections:
              review:
                driver: gerrit
                server: 127.0.0.1
                port: {site.standin.port}
                user: gateq
                sshkey: {site.users['gateq'].key.path}
                known-hosts: {site.known_hosts}
                web-url: http://review.example.org
                reconcile-interval: 300
                command-timeout: 5
                connect-timeout: 3
                report-timeout: 2
                report-retry: 0.5
                reconnect-max: 1
            """) + textwrap.indent(textwrap.dedent(extra), "    ") + \
            "  distgit: {driver: git, root: repos}\nexecutor: {slots: 4}\n"

    @staticmethod
    def project_yaml(name: str, connection: str, pipelines: list[str]) -> str:
        return (f"- project:\n    name: {name}\n    connection: {connection}\n    queue: shared\n"
                + "".join(f"    {p}: {{jobs: [check]}}\n" for p in pipelines))

    def write(self, name: str, text: str) -> None:
        with open(os.path.join(self.config, name), "w") as f:
            f.write(text)

    def write_job(self, name: str, text: str) -> None:
        path = os.path.join(self.config, "jobs", name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        os.chmod(path, 0o755)

    # -- the git connection's repositories ------------------------------------

    def bare(self, project: str) -> str:
        return os.path.join(self.config, "repos", f"{project}.git")

    def make_git_repo(self, project: str) -> None:
        git("init", "-q", "--bare", "-b", "main", self.bare(project), cwd=self.root)
        work = os.path.join(self.root, "work", project)
        git("clone", "-q", self.bare(project), work, cwd=self.root)
        git("checkout", "-q", "-b", "main", cwd=work)
        self.git_commit(project, {"README": f"{project}\n"}, "Initial import")
        git("push", "-q", "origin", "main", cwd=work)

    def git_commit(self, project: str, files: dict, message: str) -> str:
        work = os.path.join(self.root, "work", project)
        for name, text in files.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def git_change(self, project: str, ref: str, files: dict, message: str) -> str:
        """A branch `ref` on the tip of main in the git connection's repository."""
        work = os.path.join(self.root, "work", project)
        git("fetch", "-q", "origin", cwd=work)
        git("checkout", "-q", "-B", ref, "origin/main", cwd=work)
        revision = self.git_commit(project, files, message)
        git("push", "-q", "-f", "origin", ref, cwd=work)
        return revision

    def git_tip(self, project: str, branch: str = "main") -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare(project))

    # -- the engine -----------------------------------------------------------

    def start(self) -> None:
        log = open(self.log_path, "ab")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
            + sys.path)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateq.cli", "-c", self.config, "serve"],
                                     stdout=log, stderr=log, env=env)
        log.close()

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"gateq serve did not stop in {timeout}s:\n{self.log()}")
        rc, self.proc = self.proc.returncode, None
        return rc

    @contextlib.contextmanager
    def serving(self):
        self.start()
        try:
            self.wait_link("up")
            yield self
        finally:
            rc = self.stop()
            assert rc == 0, f"gateq serve exited {rc}:\n{self.log()}"

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    # -- the CLI, as a user runs it -------------------------------------------

    def gateq(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = gateq_main(["-c", self.config, *args])
        return rc, out.getvalue(), err.getvalue()

    def ok(self, *args: str) -> str:
        rc, out, err = self.gateq(*args)
        assert rc == 0, f"gateq {' '.join(args)} exited {rc}: {err}"
        return out

    def results(self, pipeline: str | None = None) -> list[dict]:
        return [r for r in json.loads(self.ok("results", "--json"))
                if pipeline is None or r["pipeline"] == pipeline]

    def status(self) -> dict:
        return json.loads(self.ok("status", "--json"))

    def link(self, connection: str = "review") -> str | None:
        return self.status().get("connections", {}).get(connection, {}).get("state")

    def wait_link(self, state: str, timeout: float = 20) -> None:
        self.wait(lambda: self.link() == state, f"connection review {state}", timeout)

    def wait(self, condition, what: str, timeout: float = 30):
        """wait_until, while the engine runs; a timeout shows the engine's log."""
        try:
            return wait_until(lambda: self.alive() and condition(), what, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; engine log:\n{self.log()[-6000:]}") from None

    def alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"gateq serve exited {self.proc.returncode}:\n{self.log()}")
        return True

    # -- the review system, as reviewers use it -------------------------------

    def upload(self, project: str, files: dict, subject: str, **options) -> Uploaded:
        return self.standin.upload(project, self.site.users["alice"], files, subject, **options)

    def url(self, project: str, change: Uploaded) -> str:
        """The change's page, as a Depends-On footer names it."""
        return f"http://review.example.org/c/{project}/+/{change.number}"

    def approve(self, change: Uploaded, labels: dict | None = None) -> None:
        self.standin.review(change.number, self.site.users["alice"], labels or APPROVE)

    def comment(self, change: Uploaded, message: str) -> None:
        self.standin.review(change.number, self.site.users["alice"], None, message)

    def result(self, change: Uploaded, pipeline: str) -> list[dict]:
        return [r for r in self.results(pipeline) if r["change"] == change.ref]

    def wait_result(self, change: Uploaded, pipeline: str, timeout: float = 30,
                    count: int = 1) -> list[dict]:
        def found():
            got = self.result(change, pipeline)
            return got if len(got) >= count else None
        return self.wait(found, f"{count} {pipeline} result(s) of change {change.number},"
                          f"{change.patchset}", timeout)

    def reviews(self, change: Uploaded, tag: str | None = None) -> list[dict]:
        found = self.standin.reviews(f"{change.number},{change.patchset}")
        return [r for r in found if tag is None or r.get("tag") == tag]

    def wait_review(self, change: Uploaded, pipeline: str, timeout: float = 30) -> dict:
        return self.wait(lambda: self.reviews(change, f"autogenerated:gateq:{pipeline}")[-1:],
            f"gateq's {pipeline} report on {change.number},{change.patchset}", timeout)[0]

    def hold_builds(self) -> "Hold":
        """Builds wait (after recording what they saw) until released."""
        return Hold(os.path.join(self.seen, "HOLD"))

    def running(self, pipeline: str) -> bool:
        """Whether a build of `pipeline` is running (the status says so)."""
        return any(any(j.get("state") == "running" for j in item.get("jobs", ()))
                   for p in self.status()["pipelines"] if p["name"] == pipeline
                   for q in p["queues"] for item in q["items"])

    def queued(self, pipeline: str) -> list[str]:
        """project:ref of every change queued in `pipeline`, head first."""
        return [f"{c['project']}:{c['change']}" if "project" in c else c["change"]
                for p in self.status()["pipelines"] if p["name"] == pipeline
                for q in p["queues"] for item in q["items"]
                for c in (item.get("changes") or [item])]

    def builds_env(self) -> list[dict]:
        """The environment of every build that ran, oldest first."""
        found = []
        for build in sorted(os.listdir(self.seen),
                            key=lambda b: os.path.getmtime(os.path.join(self.seen, b))):
            path = os.path.join(self.seen, build, "env")
            if os.path.isfile(path):
                with open(path) as f:
                    found.append(dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line))
        return found


class Hold:
    def __init__(self, path: str) -> None:
        self.path = path
        open(path, "w").close()

    def release(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
