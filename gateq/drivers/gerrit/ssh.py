"""Run Gerrit commands over SSH, each within a deadline.

Commands share one SSH session per server (reconnected when it died);
stream-events gets a session of its own from `open_stream`. paramiko has
blocking calls without a timeout (exec_command waits for the server's
answer), so each command runs under a watchdog that closes its channel at
the deadline: nothing a command does can outlive its timeout.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import paramiko

from .connect import Deadline, SSHSettings, connect
from .errors import GerritCommandError, GerritTimeout, GerritUnreachable
from .quoting import command_line, shown


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str


class Watchdog:
    """Calls `action` once `seconds` have passed, unless the block ended first."""

    def __init__(self, seconds: float, action) -> None:
        self.fired = False
        self._action = action
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self._action()

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def start_command(client: paramiko.SSHClient, settings: SSHSettings, argv: Sequence[str],
                  deadline: Deadline) -> paramiko.Channel:
    """A channel on which `argv` has started; GerritTimeout past the deadline."""
    transport = client.get_transport()
    try:
        channel = transport.open_session(timeout=max(0.01, deadline.remaining()))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if "timeout" in str(exc).lower():
            raise GerritTimeout(settings.name, f"opening a channel for `{shown(argv)}` timed out "
                                f"after {deadline.seconds:.1f}s") from None
        raise GerritUnreachable(settings.name, f"the SSH session broke: {exc}") from None
    with Watchdog(deadline.remaining(), channel.close) as dog:
        try:
            channel.exec_command(command_line(argv))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if channel.exit_status_ready() and not dog.fired:
                return channel      # it ran and closed before the server confirmed the start
            if dog.fired:
                raise GerritTimeout(settings.name, f"`{shown(argv)}` timed out after "
                                    f"{deadline.seconds:.1f}s waiting to start") from None
            raise GerritUnreachable(settings.name, f"`{shown(argv)}` was refused: {exc}") from None
    return channel


class GerritSSH:
    """Runs commands on one Gerrit server. Thread-safe: commands from
    several threads share the session, each on its own channel."""

    def __init__(self, settings: SSHSettings) -> None:
        self.settings = settings
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], timeout: float | None = None,
            check: bool = True) -> CommandResult:
        """Run `argv` (words, quoted here) and return what it printed.
        Raises GerritTimeout past `timeout` (default: command_timeout),
        GerritCommandError for a non-zero exit when `check`, and the other
        GerritErrors when the server cannot be reached or used."""
        deadline = Deadline(timeout if timeout is not None else self.settings.command_timeout)
        channel = self._channel_for(argv, deadline)
        with Watchdog(deadline.remaining(), channel.close) as dog:
            stdout = _read_all(channel.recv)
            stderr = _read_all(channel.recv_stderr)
            status = channel.recv_exit_status()
        channel.close()
        if dog.fired and status == -1:
            raise GerritTimeout(self.settings.name,
                                f"`{shown(argv)}` timed out after {deadline.seconds:.1f}s")
        result = CommandResult(tuple(argv), status, stdout, stderr)
        if check and status != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            raise GerritCommandError(self.settings.name, f"`{shown(argv)}` failed (exit {status}): "
                                     + (lines[0].strip() if lines else "no error message"),
                                     status, stderr)
        return result

    def _channel_for(self, argv: Sequence[str], deadline: Deadline) -> paramiko.Channel:
        """Start `argv` on the shared session; a session that broke is
        replaced once, a session that hangs is dropped."""
        for attempt in (1, 2):
            client = self._shared(deadline)
            try:
                return start_command(client, self.settings, argv, deadline)
            except GerritTimeout:
                self._drop(client)
                raise
            except GerritUnreachable:
                self._drop(client)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _shared(self, deadline: Deadline) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self._client = connect(self.settings, deadline)
            return self._client

    def _drop(self, client: paramiko.SSHClient) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
        client.close()

    def open_stream(self, argv: Sequence[str], timeout: float | None = None
                    ) -> tuple[paramiko.SSHClient, paramiko.Channel]:
        """A session of its own with `argv` started on it, for long-running
        commands such as stream-events; the caller closes the client."""
        deadline = Deadline(timeout if timeout is not None else self.settings.connect_timeout)
        client = connect(self.settings, deadline)
        try:
            return client, start_command(client, self.settings, argv, deadline)
        except BaseException:
            client.close()
            raise

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _read_all(recv) -> str:
    chunks = []
    while chunk := recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
