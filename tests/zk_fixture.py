"""A real ZooKeeper for tests: Debian's `zookeeper` package started as a
standalone server on 127.0.0.1, on a free port, with its data in the test's
temporary directory, and stopped (killed if it will not stop) by the test.

Locally a missing package skips with the reason; in CI (CI=true) it fails.
`zk_server` is function-scoped: a fresh server per test is the fresh
namespace (a second of JVM start, which the few ZooKeeper tests can afford).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from unavailable import unavailable

JARS = "/usr/share/java"
SERVER_JAR = os.path.join(JARS, "zookeeper.jar")       # its manifest names the rest
LOGGER_JAR = os.path.join(JARS, "slf4j-nop.jar")        # quiet: the test reads no server log
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
START_DEADLINE = 60.0


@dataclass
class ZooKeeperServer:
    """A running server; `hosts` is what gateq.yaml's zookeeper.hosts takes."""
    port: int
    data_dir: str
    config: str
    log: str
    process: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["java", "-Xmx256m", "-cp", f"{SERVER_JAR}:{LOGGER_JAR}", MAIN, self.config],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent)
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while b"Mode: standalone" not in four_letters(self.port, b"srvr"):   # serving, not only up
            if self.process.poll() is not None:
                raise AssertionError(f"ZooKeeper exited with {self.process.returncode}: "
                                     f"{tail(self.log)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"ZooKeeper not answering on {self.hosts} after "
                                     f"{START_DEADLINE:g} s: {tail(self.log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def four_letters(port: int, word: bytes) -> bytes:
    """ZooKeeper's four-letter command `word`, or b'' while it does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(word)
            return s.recv(4096)
    except OSError:
        return b""


def tail(path: str, lines: int = 5) -> str:
    with open(path, errors="replace") as f:
        return " | ".join(f.read().splitlines()[-lines:]) or "(no output)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_zookeeper() -> None:
    missing = [what for what, there in (("zookeeper", os.path.exists(SERVER_JAR)),
                                        ("java", shutil.which("java") is not None)) if not there]
    if not missing:
        return
    unavailable(f"needs {', '.join(missing)} (Debian: apt-get install zookeeper)")


def zk_config(root: str, port: int, sync: bool) -> str:
    data = os.path.join(root, "data")
    os.makedirs(data, exist_ok=True)
    path = os.path.join(root, "zoo.cfg")
    with open(path, "w") as f:
        f.write(f"tickTime=500\ndataDir={data}\nclientPort={port}\n"
                "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                # tests: no fsync per write (a test's data need not survive a power cut, and
                # on a busy machine an fsync can outlast a short session's first connect);
                # benchmarks: fsync, as a production ensemble does
                f"forceSync={'yes' if sync else 'no'}\n"
                "4lw.commands.whitelist=ruok,srvr,stat\n"
                # sessions as short as 1 s, so the tests can let one expire quickly
                "minSessionTimeout=1000\nmaxSessionTimeout=60000\n")
    return path


def make_server(root: str, sync: bool = False) -> ZooKeeperServer:
    require_zookeeper()
    port = free_port()
    os.makedirs(root, exist_ok=True)
    config = zk_config(root, port, sync)
    return ZooKeeperServer(port, os.path.join(root, "data"), config, os.path.join(root, "zk.log"))


@pytest.fixture
def zk_server(tmp_path):
    server = make_server(str(tmp_path / "zookeeper"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def die_with_parent() -> None:
    """In the server's process before exec: a test run that is killed
    (a timeout, ^C twice) takes its ZooKeeper with it (Linux's PDEATHSIG)."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
