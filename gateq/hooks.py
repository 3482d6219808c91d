"""`gateq hook ...`: gateq run as a hook script, journaling what it is told.

  gateq hook gerrit [--connection C] HOOK-NAME ARGS...
      the Gerrit hooks plugin's patchset-created, comment-added,
      change-merged, change-abandoned, change-restored and ref-updated
      scripts (gateq/drivers/gerrit/hookargs.py)
  gateq hook git post-receive --connection C --project P
      a git repository's post-receive hook, as `gateq hook install` writes
      it (gateq/drivers/git/receive.py)

Each event goes to `journal` (the CLI makes it a journal append), whether
or not an engine runs; no network, no fetching: the engine prepares the
event when it reads it. Errors are one line and an exit status.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Mapping, Sequence, TextIO

from .drivers.records import ReviewEvent

Journal = Callable[[ReviewEvent], None]

OK, USAGE, STATE = 0, 2, 3          # as the CLI's exit statuses


class HookError(Exception):
    """A bad hook invocation; the message is one line."""


def hook_main(argv: Sequence[str], journal: Journal, *, stdin: TextIO | None = None,
              environ: Mapping[str, str] | None = None, out: TextIO | None = None,
              err: TextIO | None = None, default_connection: str | None = None) -> int:
    """Run one hook: `argv` is what follows `gateq hook`. Returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        events, said = _events(list(argv), stdin or sys.stdin, environ or os.environ,
                               default_connection)
    except HookError as exc:
        err.write(f"gateq hook: {exc}\n")
        return USAGE
    for event in events:
        try:
            journal(event)
        except Exception as exc:       # the journal's failure is the state's: say it, exit 3
            err.write(f"gateq hook: could not record {_what(event)}: {_line(exc)}\n")
            return STATE
    for line in said:
        out.write(line + "\n")
    return OK


def _events(argv: list[str], stdin: TextIO, environ: Mapping[str, str],
            default_connection: str | None) -> tuple[list[ReviewEvent], list[str]]:
    system = argv[0] if argv else None
    if system == "gerrit":
        return [_gerrit(argv[1:], default_connection)], []
    if system == "git":
        return _git(argv[1:], stdin, environ)
    raise HookError("expected `gerrit HOOK-NAME ARGS...` or `git post-receive --connection C "
                    "--project P`" + (f", not `{system}`" if system else ""))


def _gerrit(argv: list[str], connection: str | None) -> ReviewEvent:
    from .drivers.gerrit.hookargs import HookArgumentError, parse_hook
    if argv[:1] == ["--connection"]:
        if len(argv) < 2:
            raise HookError("gerrit: --connection needs a connection name")
        connection, argv = argv[1], argv[2:]
    if not argv:
        raise HookError("gerrit: which hook? (patchset-created, comment-added, ...)")
    if connection is None:
        raise HookError("gerrit: say which connection with --connection")
    try:
        return parse_hook(argv[0], argv[1:], connection)
    except HookArgumentError as exc:
        raise HookError(f"gerrit {exc}") from None


def _git(argv: list[str], stdin: TextIO, environ: Mapping[str, str]
         ) -> tuple[list[ReviewEvent], list[str]]:
    from .drivers.git.receive import push_options, receive
    from .git.repo import GitError
    if argv[:1] != ["post-receive"]:
        raise HookError("git: the only git hook is post-receive")
    options = named_options(argv[1:], ("--connection", "--project"), "git post-receive")
    repo = os.path.abspath(environ.get("GIT_DIR", "."))
    try:
        received = receive(repo, options["--connection"], options["--project"], stdin,
                           push_options(environ), environ.get("USER"))
    except GitError as exc:
        return [], [f"gateq: nothing proposed: {exc}"]
    return received.events, received.said


def named_options(argv: list[str], names: tuple[str, ...], where: str) -> dict[str, str]:
    found = {}
    words = iter(argv)
    for word in words:
        if word not in names:
            raise HookError(f"{where}: unknown argument {word!r} (expected {' '.join(names)})")
        value = next(words, None)
        if not value:
            raise HookError(f"{where}: {word} needs a value")
        found[word] = value
    missing = [name for name in names if name not in found]
    if missing:
        raise HookError(f"{where}: missing {', '.join(missing)}")
    return found


def _what(event: ReviewEvent) -> str:
    change = f" {event.change.target}" if event.change else ""
    return f"the {event.kind.value} event of {event.project}{change}"


def _line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def install(repo: str, gateq_command: Sequence[str], connection: str, project: str) -> str:
    """`gateq hook install`: one line saying what was installed where
    (InstallError, one line, when it cannot be)."""
    from .drivers.git.install import install_post_receive
    path = install_post_receive(repo, gateq_command, connection, project)
    return (f"installed {path}: a push to refs/for/BRANCH proposes a change of {project} "
            f"on connection {connection}; add -o gateq.approve to approve it")
