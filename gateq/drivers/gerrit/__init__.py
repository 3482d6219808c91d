"""The gerrit driver: Gerrit's SSH protocol, and the connection built on it.

Protocol (no engine or core imports):
- connect.py: settings and a strict paramiko connection (host key, key, timeouts)
- ssh.py: GerritSSH.run(argv, timeout) and open_stream, each under a deadline
- quoting.py: command lines Gerrit's sshd splits back into the same words
- shapes.py, events.py: voluptuous schemas and the frozen records they build
- stream.py: StreamReader, the reconnecting stream-events thread and its status
- backoff.py: capped exponential backoff with jitter
- query.py: `gerrit query` commands, ChangeRecords, pagination
- review.py: `gerrit review` commands
The driver:
- schema.py: the connection's attributes; hookargs.py: the hooks plugin's arguments
- translate.py: GerritEvents and ChangeRecords as driver-neutral records
- mirror.py: gateq's local copy of each project, fetched with OpenSSH's ssh
- source.py: stream-events and reconciliation, prepared events to the engine
- lander.py, reporter.py; connection.py ties them into a GerritConnection

Names are loaded on first use, so that reading the schema or the hook
arguments (`gateq validate`, `gateq hook gerrit`) does not load paramiko.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "Backoff": "backoff", "SSHSettings": "connect", "fingerprint": "connect",
    "GerritAuthError": "errors", "GerritCommandError": "errors", "GerritError": "errors",
    "GerritHostKeyError": "errors", "GerritQueryError": "errors", "GerritTimeout": "errors",
    "GerritUnreachable": "errors", "EventKind": "events", "EventParseError": "events",
    "GerritEvent": "events", "parse_event": "events", "ChangeRecord": "query",
    "open_changes": "query", "query_changes": "query", "review_command": "review",
    "Account": "shapes", "Approval": "shapes", "ChangeInfo": "shapes", "ChangeStatus": "shapes",
    "Dependency": "shapes", "PatchSetInfo": "shapes", "RefUpdate": "shapes",
    "CommandResult": "ssh", "GerritSSH": "ssh", "LinkState": "stream", "StreamReader": "stream",
    "StreamStatus": "stream", "GerritConnection": "connection",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
