"""One SSH connection per node, shared by the builds running there (a
channel each), made strictly (gateq/strictssh.py: the host key pinned in
known-hosts) and watched: every `keepalive` seconds the node is asked
whether it is there, and a node that does not answer within as long is
cut off, so that its builds end as node failures instead of waiting on a
silent TCP connection for many minutes.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable

import paramiko

from ..config.model import NodeSettings
from ..strictssh import Deadline, Endpoint, SSHRefused, connect
from . import remote

CHUNK = 256 * 1024


class NodeLost(Exception):
    """The node cannot be used now: not reached, refused, or gone; one line."""


class NodeConnection:
    """Invariant: `client` is None or was connected; once its transport is
    no longer active it is never handed out again (a new one is made)."""

    def __init__(self, node: NodeSettings) -> None:
        self.node = node
        self.client: paramiko.SSHClient | None = None
        self.home = ""
        self.last_problem: str | None = None     # why it was last lost, for the logs
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"node {self.node.name} ({self.node.user}@{self.node.host}:{self.node.port})"

    def transport(self) -> paramiko.Transport:
        """The node's live transport, connecting if needed; NodeLost if it cannot be."""
        with self._lock:
            if self.client is not None and not self._active(self.client):
                self.client.close()
                self.client = None
            if self.client is None:
                self.client = self._connect()
            return self.client.get_transport()

    def _connect(self) -> paramiko.SSHClient:
        node = self.node
        endpoint = Endpoint(node.host, node.port, node.user, node.sshkey, node.known_hosts,
                            node.connect_timeout, node.keepalive)
        try:
            client = connect(endpoint, Deadline(node.connect_timeout))
        except SSHRefused as exc:
            self.last_problem = exc.problem
            raise NodeLost(f"{self.name}: {exc.problem}") from None
        self.last_problem = None
        transport = client.get_transport()
        threading.Thread(target=self._watch, args=(transport,), daemon=True,
                         name=f"keepalive {node.name}").start()
        try:
            status, out, err = self._exec(transport, remote.home(), (), node.connect_timeout)
        except NodeLost:
            client.close()
            raise
        if status != 0 or not out.startswith(b"/"):
            client.close()
            raise NodeLost(f"{self.name}: cannot learn its home directory: "
                           f"{err.decode(errors='replace').strip() or 'no answer'}")
        self.home = out.decode()
        return client

    def _watch(self, transport: paramiko.Transport) -> None:
        """Ask the node every `keepalive` seconds; no answer in as long: cut it off."""
        every = self.node.keepalive
        while transport.is_active():
            answered = threading.Event()
            threading.Thread(target=lambda: (transport.global_request(
                "keepalive@openssh.com", wait=True), answered.set()), daemon=True).start()
            if not answered.wait(every):
                if transport.is_active():
                    self.last_problem = f"did not answer for {every:g}s"
                    transport.close()
                return
            stop = threading.Event()
            stop.wait(every)

    @staticmethod
    def _active(client: paramiko.SSHClient) -> bool:
        transport = client.get_transport()
        return transport is not None and transport.is_active()

    def open(self, command: str) -> paramiko.Channel:
        """A channel on which `command` has started."""
        transport = self.transport()
        try:
            channel = transport.open_session(timeout=self.node.connect_timeout)
            channel.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self.lost(exc) from None
        return channel

    def run(self, command: str, stdin: Iterable[bytes] = (), timeout: float = 600.0
            ) -> tuple[int, bytes, bytes]:
        """(exit status, stdout, stderr) of a short command, fed `stdin`, on
        the connection of the build's course: a build whose connection was
        lost ends as a node failure, it does not reconnect (its processes
        there end with that connection, and would not be found on another
        node)."""
        with self._lock:
            client = self.client
        if client is None or not self._active(client):
            raise self.lost(None)
        return self._exec(client.get_transport(), command, stdin, timeout)

    def _exec(self, transport: paramiko.Transport, command: str, stdin: Iterable[bytes],
              timeout: float) -> tuple[int, bytes, bytes]:
        try:
            channel = transport.open_session(timeout=self.node.connect_timeout)
            channel.settimeout(timeout)
            channel.exec_command(command)
            for chunk in stdin:
                channel.sendall(chunk)
            channel.shutdown_write()
            out, err = read_all(channel)
            status = channel.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self.lost(exc) from None
        if status == -1:
            raise self.lost(None)
        return status, out, err

    def lost(self, exc: BaseException | None) -> NodeLost:
        """The NodeLost for a connection that failed under a command."""
        gone = self.client is None or not self._active(self.client)
        if gone and self.last_problem:
            return NodeLost(f"{self.name}: {self.last_problem}")
        return NodeLost(f"{self.name}: the connection was lost"
                        + (f" ({exc})" if exc and str(exc) else ""))

    def is_lost(self) -> bool:
        return self.client is not None and not self._active(self.client)

    def close(self) -> None:
        with self._lock:
            if self.client is not None:
                self.client.close()
                self.client = None


def read_all(channel: paramiko.Channel, on_output: Callable[[bytes], None] | None = None
             ) -> tuple[bytes, bytes]:
    """Everything on the channel's stdout (handed to `on_output` if given,
    else returned) and stderr, until both end."""
    out, err = bytearray(), bytearray()
    while True:
        data = channel.recv(CHUNK)
        if not data:
            break
        if on_output:
            on_output(data)
        else:
            out += data
    while data := channel.recv_stderr(CHUNK):
        err += data
    return bytes(out), bytes(err)
