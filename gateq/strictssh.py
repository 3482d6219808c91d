"""Open an SSH connection with paramiko, strictly, for whatever gateq talks
to over SSH (Gerrit, build nodes): the host key must be in the configured
known_hosts file (no system files, nothing learned, an unknown or changed
key refused naming its SHA256 fingerprint as OpenSSH shows it), only the
configured private key is offered, and every step has a deadline. Every
failure is one SSHRefused with one line and the kind of refusal, which
each user turns into its own error types.
"""
from __future__ import annotations

import enum
import logging
import socket
import time
from dataclasses import dataclass

import paramiko


# paramiko logs a failed connection as a multi-line traceback at ERROR; the
# one-line SSHRefused (and what its users make of it) says it all.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Endpoint:
    """Where to log in and how; timeouts and keepalive in seconds."""
    host: str
    port: int
    user: str
    sshkey: str
    known_hosts: str
    connect_timeout: float = 10.0
    keepalive: float = 15.0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


class Refusal(enum.Enum):
    UNREACHABLE = "unreachable"      # refused, no route, not resolved, closed before SSH
    AUTH = "auth"                    # our user and key refused, or the key unusable
    HOST_KEY = "host-key"            # not in known-hosts, or different from it
    TIMEOUT = "timeout"


class SSHRefused(Exception):
    """No connection; `problem` says why in one line (without the endpoint)."""

    def __init__(self, refusal: Refusal, problem: str) -> None:
        super().__init__(problem)
        self.refusal = refusal
        self.problem = problem


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
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def missing_host_key(self, client, hostname, key) -> None:
        raise SSHRefused(Refusal.HOST_KEY,
                         f"unknown host key {fingerprint(key)}, not in "
                         f"{self.endpoint.known_hosts}; refusing to connect "
                         "(add it there once you have checked the fingerprint)")


def load_key(endpoint: Endpoint) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(endpoint.sshkey)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SSHRefused(Refusal.AUTH, f"cannot use sshkey {endpoint.sshkey}: {reason}") from None


def connect(endpoint: Endpoint, deadline: Deadline) -> paramiko.SSHClient:
    """A connected, authenticated client, or SSHRefused."""
    key = load_key(endpoint)
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(endpoint.known_hosts)
    except OSError as exc:
        raise SSHRefused(Refusal.HOST_KEY, f"cannot read known-hosts "
                         f"{endpoint.known_hosts}: {exc.strerror}") from None
    client.set_missing_host_key_policy(_RefuseUnknownHost(endpoint))
    budget = min(endpoint.connect_timeout, deadline.remaining())
    if budget <= 0:
        raise SSHRefused(Refusal.TIMEOUT, "no time left to connect")
    began = time.monotonic()
    try:
        client.connect(endpoint.host, endpoint.port, username=endpoint.user, pkey=key,
                       timeout=budget, banner_timeout=budget, auth_timeout=budget,
                       channel_timeout=budget, look_for_keys=False, allow_agent=False)
    except BaseException as exc:
        client.close()
        out_of_time = time.monotonic() - began >= budget * 0.9
        raise _connect_error(endpoint, exc, budget, out_of_time) from None
    transport = client.get_transport()
    transport.set_keepalive(max(1, int(endpoint.keepalive)))
    # Commands are small request/answer exchanges: with Nagle's algorithm
    # against delayed ACKs, each would wait ~40 ms twice for nothing.
    transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _connect_error(endpoint: Endpoint, exc: BaseException, budget: float,
                   out_of_time: bool) -> BaseException:
    """The SSHRefused for what paramiko raised. paramiko gives up on a
    silent server with unhelpful errors ("No existing session"), so any
    failure once the budget is spent counts as a timeout."""
    timed_out = SSHRefused(Refusal.TIMEOUT, f"connecting timed out after {budget:.1f}s")
    unreachable = Refusal.UNREACHABLE
    if isinstance(exc, SSHRefused) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return SSHRefused(Refusal.HOST_KEY, f"host key changed: the server offers "
                          f"{fingerprint(exc.key)}, {endpoint.known_hosts} has "
                          f"{fingerprint(exc.expected_key)}; refusing to connect")
    if isinstance(exc, paramiko.AuthenticationException):
        if "timeout" in str(exc).lower():
            return timed_out
        return SSHRefused(Refusal.AUTH, f"authentication failed for user {endpoint.user} "
                          f"with key {endpoint.sshkey}")
    if isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(exc.__context__, socket.timeout):
        return timed_out
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        exc = next(iter(exc.errors.values()))     # one per address tried; the first says it
    if isinstance(exc, socket.gaierror):
        return SSHRefused(unreachable, f"cannot resolve {endpoint.host}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return SSHRefused(unreachable, "connection refused")
    if isinstance(exc, OSError):
        return SSHRefused(unreachable, f"cannot connect: {exc.strerror or exc}")
    if out_of_time or "timed out" in str(exc).lower():
        return timed_out
    if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
        return SSHRefused(unreachable, f"no SSH algorithms in common with the server ({exc}); "
                          f"is the host key in {endpoint.known_hosts} of a type it has?")
    if isinstance(exc, (EOFError, paramiko.SSHException)):
        return SSHRefused(unreachable, "the server closed the connection before SSH was set up")
    first = str(exc).strip().splitlines()
    return SSHRefused(unreachable, f"cannot connect: {type(exc).__name__}"
                      + (f": {first[0]}" if first else ""))
