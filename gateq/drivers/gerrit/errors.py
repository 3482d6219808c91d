"""What can go wrong talking to Gerrit, one exception type per kind of
failure; each message is one line that starts with the server it is about,
so `gateq status` and the logs can show it as it is."""
from __future__ import annotations


class GerritError(Exception):
    """A failure talking to one Gerrit server (`server` is HOST:PORT)."""

    def __init__(self, server: str, problem: str) -> None:
        super().__init__(f"gerrit {server}: {problem}")
        self.server = server
        self.problem = problem


class GerritUnreachable(GerritError):
    """No SSH session: connection refused, no route, name not resolved,
    or the server closed the connection."""


class GerritAuthError(GerritError):
    """The server refused our user and key, or the key cannot be used."""


class GerritHostKeyError(GerritError):
    """The server's host key is not in known-hosts, or differs from it."""


class GerritTimeout(GerritError):
    """An operation did not finish within its deadline."""


class GerritCommandError(GerritError):
    """A command ran and exited non-zero; `stderr` holds all it said."""

    def __init__(self, server: str, problem: str, exit_status: int, stderr: str) -> None:
        super().__init__(server, problem)
        self.exit_status = exit_status
        self.stderr = stderr


class GerritQueryError(GerritError):
    """`gerrit query` answered with an error line or output we cannot read."""
