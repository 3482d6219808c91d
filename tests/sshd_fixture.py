"""A real OpenSSH server for the build node tests: /usr/sbin/sshd on
127.0.0.1 on a free port, with a host key of its own and one unprivileged
user (gateq-node, created when the tests run as root; else the user running
them) who logs in with a key the test made. Its files are in a directory
of their own, readable by that user (sshd reads authorized_keys as the user).
The test stops it; `kill` stops it the hard way, its sessions too, as a node
that dies does.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import pytest

from unavailable import unavailable
from zk_fixture import die_with_parent, free_port, tail

SSHD = "/usr/sbin/sshd"
NODE_USER = "gateq-node"
START_DEADLINE = 15.0


def node_user() -> str:
    """gateq-node (made if missing) as root; otherwise whoever runs the tests."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(NODE_USER)
    except KeyError:
        # "*": no password, but not locked (sshd refuses locked accounts without PAM)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*",
                        NODE_USER], check=True, capture_output=True)
    return NODE_USER


def keygen(path: str) -> str:
    """An ed25519 key pair at path (and path.pub); the public key's line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gateq-test", "-f", path],
                   check=True, capture_output=True)
    with open(path + ".pub") as f:
        return f.read().strip()


@dataclass
class SSHServer:
    root: str                       # its files, readable by the node user
    user: str
    port: int = 0
    process: subprocess.Popen | None = None
    host_key_line: str = ""         # "ssh-ed25519 AAAA..."
    client_key: str = ""            # the private key the test logs in with
    log: str = ""
    stopped: list[int] = field(default_factory=list)

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_line}\n"

    def write_known_hosts(self, path: str, line: str | None = None) -> str:
        with open(path, "w") as f:
            f.write(self.known_hosts_line if line is None else line)
        return path

    def prepare(self) -> None:
        os.chmod(self.root, 0o755)
        self.host_key_line = " ".join(keygen(os.path.join(self.root, "host_ed25519")).split()[:2])
        self.client_key = os.path.join(self.root, "client_ed25519")
        authorized = os.path.join(self.root, "authorized_keys")
        with open(authorized, "w") as f:
            f.write(keygen(self.client_key) + "\n")
        os.chmod(authorized, 0o644)
        self.log = os.path.join(self.root, "sshd.log")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)    # its privilege separation dir

    def config(self) -> str:
        path = os.path.join(self.root, "sshd_config")
        with open(path, "w") as f:
            f.write(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.root}/host_ed25519
PidFile {self.root}/sshd.pid
AuthorizedKeysFile {self.root}/authorized_keys
AllowUsers {self.user}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
MaxSessions 100
MaxStartups 100
LogLevel VERBOSE
""")
        return path

    def start(self) -> None:
        """On a free port (another process may take it first: then another one)."""
        for _ in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", self.config()], stdin=subprocess.DEVNULL,
                stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent)
            if self.wait_ready():
                return
        raise AssertionError(f"sshd would not start: {tail(self.log)}")

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"sshd not answering on port {self.port}: {tail(self.log)}")

    def sessions(self) -> list[int]:
        """The pids of sshd's own processes for its connections (not what they run)."""
        return [pid for pid in descendants(self.process.pid) if command_of(pid).startswith("sshd")] \
            if self.process else []

    def kill(self) -> None:
        """As a node that stops answering: the server and its sessions at
        once (SIGKILL); what the sessions ran is left to notice it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGSTOP)     # it takes no connection meanwhile
        for pid in self.sessions():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """The server, its sessions and whatever they still run."""
        if self.process is None:
            return
        left = descendants(self.process.pid)
        self.kill()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def processes_of(user: str) -> list[str]:
    """`pid command line` of every process of the node user but sshd's own
    (its sessions stay while gateq holds a connection). When the node user
    is the one running the tests (not root), only those that carry a node
    build's marker in their environment: the tests' own processes are its too."""
    uid = pwd.getpwnam(user).pw_uid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            if uid == os.geteuid():
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if not any(v.startswith(b"GATEQ_NODE_BUILD=") for v in f.read().split(b"\0")):
                        continue
        except OSError:
            continue
        cmdline = command_of(int(entry))
        if cmdline and not cmdline.startswith("sshd:"):
            found.append(f"{entry} {cmdline}")
    return found


def require_sshd() -> None:
    missing = [what for what, there in (("sshd", os.access(SSHD, os.X_OK)),
                                        ("ssh-keygen", shutil.which("ssh-keygen") is not None))
               if not there]
    if missing:
        unavailable(f"needs {', '.join(missing)} (Debian: apt-get install openssh-server)")


def make_server() -> SSHServer:
    require_sshd()
    server = SSHServer(tempfile.mkdtemp(prefix="gateq-sshd-"), node_user())
    server.prepare()
    return server


@pytest.fixture
def sshd():
    """One running server; `sshd.another()` starts more (stopped with it)."""
    servers: list[SSHServer] = []

    def another() -> SSHServer:
        server = make_server()
        servers.append(server)
        server.start()
        return server
    try:
        first = another()
        first.another = another
        yield first
    finally:
        for server in servers:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
