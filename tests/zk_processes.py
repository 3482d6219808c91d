"""gateq processes on one real ZooKeeper, each as if on a host of its own:
`other_host` copies a configuration with the same repositories and
ZooKeeper and a state directory of its own; `Process` runs a gateq command
(`scheduler`, `executor`, `merger`, `web`) in a process of its own and reads its log.
`add_zookeeper` and `host_config` do the same for a tests/gate_fixture.py Gate."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

from gate_fixture import Gate, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def zookeeper_yaml(config_dir: str, hosts: str, session: float, executors: bool = False,
                   mergers: bool = False) -> None:
    with open(os.path.join(config_dir, "gateq.yaml"), "a") as f:
        f.write(f"zookeeper:\n  hosts: '{hosts}'\n  session-timeout: {session}\n"
                + ("  executors: true\n" if executors else "")
                + ("  mergers: true\n" if mergers else ""))


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


def add_zookeeper(g: Gate, hosts: str, session: float, executors: bool = False,
                  mergers: bool = False) -> None:
    zookeeper_yaml(g.config, hosts, session, executors, mergers)


def host_config(g: Gate, name: str) -> str:
    """Another 'host' for the gate: config-NAME beside its configuration."""
    return other_host(g.config, os.path.join(g.root, f"config-{name}"))


class Process:
    """`gateq -c CONFIG ARGS...` (default: scheduler), its stderr in `log`."""

    def __init__(self, config: str, log: str, *args: str, env: dict | None = None):
        self.log, self.config = log, config
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, *sys.path]),
                       **(env or {})}
        with open(log, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateq.cli", "-c", config, *(args or ("scheduler",))],
                stdout=subprocess.DEVNULL, stderr=err, env=environment)

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


class Hosts:
    """The gate on ZooKeeper with builds on executors, and the gateq
    processes a test starts on its 'hosts': host "a" is the gate's own
    configuration, any other name a copy made by host_config."""

    def __init__(self, g: Gate, zk_hosts: str, session: float, mergers: bool = False) -> None:
        add_zookeeper(g, zk_hosts, session, executors=True, mergers=mergers)
        self.g, self.zk_hosts = g, zk_hosts
        self.started: list[Process] = []

    def start(self, command: str, host: str, *args: str) -> Process:
        config = self.g.config if host == "a" else host_config(self.g, host)
        process = Process(config, os.path.join(self.g.root, f"{command}-{host}.log"), command,
                          *args)
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            process.stop()


def git_daemon_of(scheduler: Process) -> int:
    """The pid of the git daemon an active scheduler runs (a child of it)."""
    out = subprocess.run(["pgrep", "-P", str(scheduler.process.pid), "-f", "daemon"],
                         capture_output=True, text=True).stdout.split()
    assert out, "the scheduler runs no git daemon"
    return int(out[0])
