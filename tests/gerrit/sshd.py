"""The stand-in's SSH server (paramiko's server side): its own host key,
public-key authentication of the accounts' keys only, and one thread per
command, which ends by sending the command's exit status and closing the
channel."""
from __future__ import annotations

import logging
import socket
import threading

import paramiko

from . import commands
from .keys import public_key
from .site import Site

log = logging.getLogger("gerrit-standin")


class Transport(paramiko.Transport):
    """Starts a command's thread once the answer to its exec request is on
    the wire (the first message this transport's thread sends after the
    request), so that a fast command's close cannot overtake that answer:
    a client would take it for a refusal."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._to_start: list[threading.Thread] = []
        self._starting = threading.Lock()

    def start_after_reply(self, thread: threading.Thread) -> None:
        with self._starting:
            self._to_start.append(thread)
        # A client that asked for no reply gets none: start it anyway, soon.
        timer = threading.Timer(1.0, self._start_pending)
        timer.daemon = True
        timer.start()

    def _send_user_message(self, data) -> None:
        super()._send_user_message(data)
        if self._to_start and threading.current_thread() is self:
            self._start_pending()

    def _start_pending(self) -> None:
        with self._starting:
            starting, self._to_start = self._to_start, []
        for thread in starting:
            thread.start()


class Interface(paramiko.ServerInterface):
    def __init__(self, site: Site) -> None:
        self.site = site
        self.user: str | None = None
        self.env: dict[int, dict[str, str]] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        account = self.site.state.accounts.get(username)
        if account and any(public_key(line) == key for line in account.keys):
            self.user = username
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel, name, value) -> bool:
        self.env.setdefault(channel.get_id(), {})[_text(name)] = _text(value)
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        line = _text(command)
        session = commands.session_for(self.site, self.user, line, channel,
                                       self.env.pop(channel.get_id(), {}))
        log.info("%s: %s", self.user, line)
        runner = commands.prepare(session)
        channel.get_transport().start_after_reply(threading.Thread(
            target=_finish, args=(channel, runner), daemon=True, name=f"cmd {line[:40]}"))
        return True


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _finish(channel: paramiko.Channel, runner: commands.Runner) -> None:
    try:
        status = runner()
    except Exception:       # a stand-in bug: say so to the client, keep serving
        log.exception("command failed")
        channel.sendall_stderr(b"fatal: internal server error\n")
        status = 1
    try:
        channel.send_exit_status(status)
        channel.close()
    except (OSError, EOFError, paramiko.SSHException):
        pass


class SSHServer:
    """Listens on 127.0.0.1:`port` (0: any free port; see `.port`)."""

    def __init__(self, site: Site, host_key: paramiko.PKey, port: int = 0) -> None:
        self.site = site
        self.host_key = host_key
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    def serve_forever(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return                      # closed by stop()
            if self.site.knobs.refuse_connections:
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        # No Nagle: a command's few small packets go out at once, so timings
        # measure the client rather than Nagle against delayed ACKs.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = Transport(conn)
        transport.add_server_key(self.host_key)
        with self._lock:
            self.transports = [t for t in self.transports if t.is_active()] + [transport]
        try:
            transport.start_server(server=Interface(self.site))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
        # Channels are served from the exec callback; never take them with
        # transport.accept(): a channel object dropped there closes itself.

    def connections(self) -> int:
        with self._lock:
            return sum(t.is_active() for t in self.transports)

    def stop(self) -> None:
        self.listener.close()
        with self._lock:
            for transport in self.transports:
                transport.close()
