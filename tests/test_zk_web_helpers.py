"""Helpers for the ZooKeeper tests of the web and the review connections
(no tests here): a second configuration directory standing for another
host (the same gateq.yaml and ZooKeeper, a state directory of its own), a
gateq process (`web`, `scheduler`) read through its log, and the store of
a configuration opened as the CLI opens it."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys

from gate_fixture import wait_until
from gateq.cli import main as gateq_main
from gateq.config.loader import load_config
from gateq.state import open_store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_zookeeper(config_dir: str, hosts: str, session_timeout: int = 3) -> None:
    with open(os.path.join(config_dir, "gateq.yaml"), "a") as f:
        f.write(f"zookeeper:\n  hosts: '{hosts}'\n  session-timeout: {session_timeout}\n")


def other_host(config_dir: str, dest: str) -> str:
    """A copy of the configuration with an empty state directory of its own
    (its repositories: the first one's, where the git driver keeps them)."""
    shutil.copytree(config_dir, dest, ignore=shutil.ignore_patterns("repos", "state"))
    path = os.path.join(dest, "gateq.yaml")
    with open(path) as f:
        text = f.read().replace("root: repos", f"root: {config_dir}/repos")
    with open(path, "w") as f:
        f.write(text)
    return dest


def cli(config_dir: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gateq_main(["-c", config_dir, *args])
    return rc, out.getvalue(), err.getvalue()


def ok(config_dir: str, *args: str) -> str:
    rc, out, err = cli(config_dir, *args)
    assert rc == 0, f"gateq {' '.join(args)} exited {rc}: {err}"
    return out


@contextlib.contextmanager
def store_of(config_dir: str):
    """The configured store (ZooKeeper's), as `gateq status` opens it."""
    config = load_config(config_dir)
    store = open_store(config.state_dir, create=False, zookeeper=config.zookeeper)
    try:
        yield store
    finally:
        store.close()


class GateqProcess:
    """`gateq -c CONFIG ARGS...` in a process of its own, its stderr in `log`."""

    def __init__(self, config_dir: str, log: str, *args: str, env: dict | None = None):
        self.log = log
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, *sys.path]),
                       **(env or {})}
        with open(log, "w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "gateq.cli", "-c", config_dir,
                                             *args], stdout=subprocess.DEVNULL, stderr=err,
                                            env=environment)

    def text(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def says(self, words: str) -> bool:
        return words in self.text()

    def wait_for(self, words: str, what: str, timeout: float = 60) -> None:
        def seen() -> bool:
            if self.says(words):
                return True
            assert self.process.poll() is None or words in self.text(), \
                f"{what}: gateq exited {self.process.returncode}:\n{self.text()[-4000:]}"
            return False
        try:
            wait_until(seen, what, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.text()[-4000:]}") from None

    def url(self) -> str:
        self.wait_for("web service listening on", "the web service to listen")
        return re.search(r"web service listening on (http://\S+/)", self.text()).group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
