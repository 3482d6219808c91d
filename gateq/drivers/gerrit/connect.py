"""Open an SSH session to Gerrit with paramiko, strictly (gateq/strictssh.py:
the host key pinned in known-hosts, only the configured key, deadlines);
every failure becomes one GerritError subclass with one line.
"""
from __future__ import annotations

from dataclasses import dataclass

import paramiko

from ...strictssh import Deadline, Endpoint, Refusal, SSHRefused, fingerprint
from ...strictssh import connect as strict_connect
from .errors import (GerritAuthError, GerritError, GerritHostKeyError, GerritTimeout,
                     GerritUnreachable)

__all__ = ["SSHSettings", "Deadline", "fingerprint", "connect"]

ERRORS: dict[Refusal, type[GerritError]] = {
    Refusal.UNREACHABLE: GerritUnreachable, Refusal.AUTH: GerritAuthError,
    Refusal.HOST_KEY: GerritHostKeyError, Refusal.TIMEOUT: GerritTimeout}


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

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.server, self.port, self.user, self.sshkey, self.known_hosts,
                        self.connect_timeout, self.keepalive)


def connect(settings: SSHSettings, deadline: Deadline) -> paramiko.SSHClient:
    """A connected, authenticated client, or a GerritError."""
    try:
        return strict_connect(settings.endpoint, deadline)
    except SSHRefused as exc:
        raise ERRORS[exc.refusal](settings.name, exc.problem) from None
