"""gateq processes on one real ZooKeeper, each as if on a host of its
own: `host_config` copies the gate's configuration with the same
repositories and ZooKeeper and a state directory of its own; `Process`
runs `gateq scheduler` or `gateq executor` on it and reads its log."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from gate_fixture import Gate


def add_zookeeper(g: Gate, hosts: str, session: float, executors: bool = False) -> None:
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write(f"zookeeper:\n  hosts: '{hosts}'\n  session-timeout: {session}\n"
                + ("  executors: true\n" if executors else ""))


def host_config(g: Gate, name: str) -> str:
    """Another 'host': the gate's configuration, its own state directory."""
    other = os.path.join(g.root, f"config-{name}")
    shutil.copytree(g.config, other, ignore=shutil.ignore_patterns("repos", "state"))
    path = os.path.join(other, "gateq.yaml")
    with open(path) as f:
        text = f.read().replace("root: repos", f"root: {g.config}/repos")
    with open(path, "w") as f:
        f.write(text)
    return other


class Process:
    """`gateq COMMAND` on `config`, its stderr (the log) in `log`."""

    def __init__(self, config: str, log: str, command: str = "scheduler", *args: str):
        self.log, self.config = log, config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateq.cli", "-c", config, command, *args],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))

    def text(self) -> str:
        with open(self.log) as f:
            return f.read()

    def says(self, words: str) -> bool:
        return words in self.text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
