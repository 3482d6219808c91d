"""One SSH command being served: who runs it, its words, its channel."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import paramiko

from .site import Site


@dataclass
class Session:
    site: Site
    user: str
    line: str                       # the command line as received
    argv: list[str]                 # as Gerrit's sshd splits it
    channel: paramiko.Channel
    env: dict[str, str] = field(default_factory=dict)

    def out(self, text: str) -> None:
        self.channel.sendall(text.encode())

    def err(self, text: str) -> None:
        self.channel.sendall_stderr(text.encode())

    def held(self) -> bool:
        """Wait out a hold tests put on this command; True if the client
        hung up meanwhile (Gerrit then cancels the command)."""
        until = time.monotonic() + self.site.held_for(self.line)
        while not self.channel.closed and time.monotonic() < until:
            # paramiko sets status_event when the channel closes
            self.channel.status_event.wait(until - time.monotonic())
        return self.channel.closed
