"""Open an SSH session to Gerrit with paramiko, strictly: the host key must
be in the configured known_hosts file (no system files, nothing learned,
an unknown or changed key refused naming its SHA256 fingerprint as OpenSSH
shows it), only the configured private key is offered, and every step has
a deadline. Every failure becomes one GerritError subclass with one line.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import paramiko

from .errors import (GerritAuthError, GerritError, GerritHostKeyError, GerritTimeout,
                     GerritUnreachable)


@dataclass(frozen=True)
class SSHSettings:
    """How to reach one Gerrit server; timeouts and keepalive in seconds."""
    server: str
    user: str
    sshkey: str
    known_hosts: str
    port: int = 29418
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    keepalive: float = 15.0

    @property
    def name(self) -> str:
        return f"{self.server}:{self.port}"


class Deadline:
    """A point in time that every step of one operation must finish by."""

    def __init__(self, seconds: float, clock=time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


def fingerprint(key: paramiko.PKey) -> str:
    """`ssh-ed25519 SHA256:...`, the way OpenSSH shows a host key."""
    return f"{key.get_name()} {key.fingerprint}"


class _RefuseUnknownHost(paramiko.RejectPolicy):
    def __init__(self, settings: SSHSettings) -> None:
        self.settings = settings

    def missing_host_key(self, client, hostname, key) -> None:
        raise GerritHostKeyError(self.settings.name,
                                 f"unknown host key {fingerprint(key)}, not in "
                                 f"{self.settings.known_hosts}; refusing to connect "
                                 "(add it there once you have checked the fingerprint)")


def load_key(settings: SSHSettings) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(settings.sshkey)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise GerritAuthError(settings.name, f"cannot use sshkey {settings.sshkey}: {reason}") \
            from None


def connect(settings: SSHSettings, deadline: Deadline) -> paramiko.SSHClient:
    """A connected, authenticated client, or a GerritError."""
    key = load_key(settings)
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(settings.known_hosts)
    except OSError as exc:
        raise GerritHostKeyError(settings.name, f"cannot read known-hosts "
                                 f"{settings.known_hosts}: {exc.strerror}") from None
    client.set_missing_host_key_policy(_RefuseUnknownHost(settings))
    budget = min(settings.connect_timeout, deadline.remaining())
    if budget <= 0:
        raise GerritTimeout(settings.name, "no time left to connect")
    began = time.monotonic()
    try:
        client.connect(settings.server, settings.port, username=settings.user, pkey=key,
                       timeout=budget, banner_timeout=budget, auth_timeout=budget,
                       channel_timeout=budget, look_for_keys=False, allow_agent=False)
    except BaseException as exc:
        client.close()
        out_of_time = time.monotonic() - began >= budget * 0.9
        raise _connect_error(settings, exc, budget, out_of_time) from None
    transport = client.get_transport()
    transport.set_keepalive(max(1, int(settings.keepalive)))
    # Commands are small request/answer exchanges: with Nagle's algorithm
    # against delayed ACKs, each would wait ~40 ms twice for nothing.
    transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _connect_error(settings: SSHSettings, exc: BaseException, budget: float,
                   out_of_time: bool) -> BaseException:
    """The GerritError for what paramiko raised. paramiko gives up on a
    silent server with unhelpful errors ("No existing session"), so any
    failure once the budget is spent counts as a timeout."""
    name = settings.name
    timed_out = GerritTimeout(name, f"connecting timed out after {budget:.1f}s")
    if isinstance(exc, GerritError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return GerritHostKeyError(name, f"host key changed: the server offers "
                                  f"{fingerprint(exc.key)}, {settings.known_hosts} has "
                                  f"{fingerprint(exc.expected_key)}; refusing to connect")
    if isinstance(exc, paramiko.AuthenticationException):
        if "timeout" in str(exc).lower():
            return timed_out
        return GerritAuthError(name, f"authentication failed for user {settings.user} "
                               f"with key {settings.sshkey}")
    if isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(exc.__context__, socket.timeout):
        return timed_out
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        exc = next(iter(exc.errors.values()))     # one per address tried; the first says it
    if isinstance(exc, socket.gaierror):
        return GerritUnreachable(name, f"cannot resolve {settings.server}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return GerritUnreachable(name, "connection refused")
    if isinstance(exc, OSError):
        return GerritUnreachable(name, f"cannot connect: {exc.strerror or exc}")
    if out_of_time or "timed out" in str(exc).lower():
        return timed_out
    if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
        return GerritUnreachable(name, f"no SSH algorithms in common with the server ({exc}); "
                                 f"is the host key in {settings.known_hosts} of a type it has?")
    if isinstance(exc, (EOFError, paramiko.SSHException)):
        return GerritUnreachable(name, "the server closed the connection before SSH was set up")
    first = str(exc).strip().splitlines()
    return GerritUnreachable(name, f"cannot connect: {type(exc).__name__}"
                             + (f": {first[0]}" if first else ""))
