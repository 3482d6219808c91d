"""Gerrit's SSH protocol, for the gerrit driver (no engine or core imports).

- connect.py: settings and a strict paramiko connection (host key, key, timeouts)
- ssh.py: GerritSSH.run(argv, timeout) and open_stream, each under a deadline
- quoting.py: command lines Gerrit's sshd splits back into the same words
- shapes.py, events.py: voluptuous schemas and the frozen records they build
- stream.py: StreamReader, the reconnecting stream-events thread and its status
- backoff.py: capped exponential backoff with jitter
- query.py: `gerrit query` commands, ChangeRecords, pagination
- review.py: `gerrit review` commands
"""
from .backoff import Backoff
from .connect import SSHSettings, fingerprint
from .errors import (GerritAuthError, GerritCommandError, GerritError, GerritHostKeyError,
                     GerritQueryError, GerritTimeout, GerritUnreachable)
from .events import EventKind, EventParseError, GerritEvent, parse_event
from .query import ChangeRecord, open_changes, query_changes
from .review import review_command
from .shapes import Account, Approval, ChangeInfo, ChangeStatus, Dependency, PatchSetInfo, RefUpdate
from .ssh import CommandResult, GerritSSH
from .stream import LinkState, StreamReader, StreamStatus

__all__ = ["Account", "Approval", "Backoff", "ChangeInfo", "ChangeRecord", "ChangeStatus",
           "CommandResult", "Dependency", "EventKind", "EventParseError", "GerritAuthError",
           "GerritCommandError", "GerritError", "GerritEvent", "GerritHostKeyError",
           "GerritQueryError", "GerritSSH", "GerritTimeout", "GerritUnreachable", "LinkState",
           "PatchSetInfo", "RefUpdate", "SSHSettings", "StreamReader", "StreamStatus",
           "fingerprint", "open_changes", "parse_event", "query_changes", "review_command"]
