"""The stream-events reader: a thread that keeps `gerrit stream-events`
open on a session of its own and hands each parsed event to a callback.

A dead link is noticed even when TCP stays up: after `idle_probe` seconds
without a byte, the reader opens (and closes) a channel on the session,
which needs an answer from the server within `probe_timeout`. On any
failure it reconnects after a backoff delay (exponential, jittered,
capped), reporting its state for `gateq status`.

Gerrit does not replay what it sent while nobody listened, so after every
(re)connection the reader calls `on_connect` (where the engine asks Gerrit
what it missed). It is called once the stream is open, so an event that
happens meanwhile waits in the stream: nothing falls between the two. If
`on_connect` or `on_event` raises, the reader drops the connection and
connects again later, which calls `on_connect` again.
"""
from __future__ import annotations

import enum
import logging
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import paramiko

from .backoff import Backoff
from .errors import GerritError, GerritTimeout, GerritUnreachable
from .events import EventKind, EventParseError, GerritEvent, parse_event
from .ssh import GerritSSH

log = logging.getLogger("gateq.gerrit")
MAX_LINE = 16 << 20      # an event is a few KiB; this much without a newline is a broken stream


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    STOPPED = "stopped"


@dataclass(frozen=True)
class StreamStatus:
    """A snapshot of the reader; `since` is wall-clock time of the last state change."""
    state: LinkState
    since: float
    last_error: str | None = None
    connects: int = 0            # successful connections so far
    failures: int = 0            # consecutive failures since the link was last stable
    events: int = 0              # events handed to on_event
    malformed: int = 0           # lines that could not be parsed
    retry_at: float | None = None


class _HandlerFailed(Exception):
    """on_connect or on_event raised; the reader reconnects."""


class StreamReader:
    def __init__(self, ssh: GerritSSH, on_event: Callable[[GerritEvent], None], *,
                 on_connect: Callable[[], None] | None = None,
                 on_malformed: Callable[[str], None] | None = None,
                 kinds: Iterable[EventKind] = tuple(EventKind),
                 idle_probe: float | None = None, probe_timeout: float | None = None,
                 backoff: Backoff | None = None, stable_after: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.ssh = ssh
        self.on_event, self.on_connect, self.on_malformed = on_event, on_connect, on_malformed
        self.argv = ["gerrit", "stream-events"] + [w for k in kinds for w in ("-s", k.value)]
        self.idle_probe = idle_probe or ssh.settings.keepalive
        self.probe_timeout = probe_timeout or ssh.settings.connect_timeout
        self.backoff = backoff or Backoff()
        self.stable_after = stable_after
        self._clock = clock
        self._status = StreamStatus(LinkState.STOPPED, clock())
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._client: paramiko.SSHClient | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"gerrit-stream {self.ssh.settings.name}")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the stream and end the thread (within `timeout` seconds)."""
        self._stopping.set()
        client = self._client
        if client is not None:
            client.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set(state=LinkState.STOPPED, retry_at=None)

    def status(self) -> StreamStatus:
        with self._lock:
            return self._status

    def _set(self, **changes) -> None:
        with self._lock:
            if "state" in changes and changes["state"] is not self._status.state:
                changes["since"] = self._clock()
            self._status = replace(self._status, **changes)

    # -- the thread ---------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._set(state=LinkState.CONNECTING, retry_at=None)
            error, stable = self._session()
            if self._stopping.is_set():
                break
            if stable:
                self.backoff.reset()
                self._set(failures=0)
            delay = self.backoff.next_delay()
            self._set(state=LinkState.DOWN, last_error=error, failures=self.status().failures + 1,
                      retry_at=self._clock() + delay)
            log.warning("%s; stream-events reconnects in %.1fs", error, delay)
            self._stopping.wait(delay)

    def _session(self) -> tuple[str, bool]:
        """Connect and read until the link fails: why it ended, and whether
        the link had proved stable (it delivered an event, or stayed up
        `stable_after` seconds), which resets the backoff."""
        up_at, delivered = None, self.status().events
        try:
            client, channel = self.ssh.open_stream(self.argv)
            self._client = client
            if self._stopping.is_set():
                return "stopped", False
            self._set(state=LinkState.UP, connects=self.status().connects + 1)
            log.info("gerrit %s: stream-events connected", self.ssh.settings.name)
            self._call(self.on_connect, "on-connect hook")
            up_at = time.monotonic()
            self._read(client, channel)
            return "stopped", False
        except GerritError as exc:
            error = str(exc)
        except _HandlerFailed as exc:
            error = f"gerrit {self.ssh.settings.name}: stream-events {exc}"
        except Exception as exc:     # a bug or a paramiko surprise: the reader must live on
            log.exception("stream-events reader failed")
            error = (f"gerrit {self.ssh.settings.name}: stream-events failed: "
                     f"{type(exc).__name__}: {exc}")
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None
        stable = up_at is not None and (self.status().events > delivered
                                        or time.monotonic() - up_at >= self.stable_after)
        return error, stable

    def _read(self, client: paramiko.SSHClient, channel: paramiko.Channel) -> None:
        channel.settimeout(min(1.0, self.idle_probe))    # so that stop() is noticed soon
        pending, heard = b"", time.monotonic()
        while not self._stopping.is_set():
            try:
                data = channel.recv(1 << 16)
            except socket.timeout:
                if time.monotonic() - heard >= self.idle_probe:
                    self._probe(client)
                    heard = time.monotonic()
                continue
            heard = time.monotonic()
            if not data:
                if self._stopping.is_set():
                    return
                raise GerritUnreachable(self.ssh.settings.name, "stream-events ended: the server "
                                        "closed the connection")
            *lines, pending = (pending + data).split(b"\n")
            if len(pending) > MAX_LINE:
                raise GerritError(self.ssh.settings.name, "stream-events sent a line longer "
                                  f"than {MAX_LINE >> 20} MiB")
            delivered = sum(self._deliver(line) for line in lines)
            if delivered:
                self._set(events=self.status().events + delivered)

    def _probe(self, client: paramiko.SSHClient) -> None:
        name = self.ssh.settings.name
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise GerritUnreachable(name, "stream-events: the SSH session died")
        try:
            transport.open_session(timeout=self.probe_timeout).close()
        except (paramiko.SSHException, EOFError, OSError):
            raise GerritTimeout(name, f"stream-events: silent for {self.idle_probe:g}s and no "
                                f"answer to a probe within {self.probe_timeout:g}s") from None

    def _deliver(self, line: bytes) -> bool:
        """Parse one line and hand its event on; whether there was one."""
        if not line.strip():
            return False
        try:
            event = parse_event(line)
        except EventParseError as exc:
            message = f"gerrit {self.ssh.settings.name}: malformed stream event: {exc}"
            log.warning("%s", message)
            self._set(malformed=self.status().malformed + 1)
            self._call(self.on_malformed, "malformed-line handler", message)
            return False
        if event is None:
            return False
        self._call(self.on_event, "event handler", event)
        return True

    def _call(self, handler, what: str, *args) -> None:
        if handler is None:
            return
        try:
            handler(*args)
        except Exception as exc:   # the engine's code: reconnect (and reconcile), never die
            log.exception("%s failed", what)
            raise _HandlerFailed(f"{what} failed: {type(exc).__name__}: {exc}") from exc
