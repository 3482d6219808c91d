"""The commands the stand-in serves, by name, and how each starts.

`prepare` runs on the SSH transport's thread before the exec request is
answered, so whatever it sets up (a stream-events subscription) is in
place once the client's exec returns; the runner it returns does the work
on a thread of its own and gives the exit status.
"""
from __future__ import annotations

import queue
from typing import Callable

from . import git_cmd, query, review_cmd
from .cmdline import Option, UsageError, parse, split
from .session import Session

Runner = Callable[[], int]
STREAM_OPTIONS = [Option(("--subscribe", "-s"), takes_value=True, repeat=True)]


def prepare(session: Session) -> Runner:
    name = tuple(session.argv[:2]) if session.argv[:1] == ["gerrit"] else tuple(session.argv[:1])
    start = COMMANDS.get(name)
    if start is None:
        return _fail(session, _not_found(session.argv))
    try:
        return start(session)
    except UsageError as exc:
        return _fail(session, str(exc))


def _not_found(argv: list[str]) -> str:
    if argv[:1] == ["gerrit"]:
        return f"gerrit: {argv[1]}: not found" if len(argv) > 1 else "gerrit: missing command"
    return f"{argv[0] if argv else ''}: not found"


def _fail(session: Session, message: str) -> Runner:
    def run() -> int:
        session.err(f"fatal: {message}\n")
        return 1
    return run


def _simple(work: Callable[[Session], int]) -> Callable[[Session], Runner]:
    def start(session: Session) -> Runner:
        def run() -> int:
            if session.held():
                return 1
            try:
                return work(session)
            except UsageError as exc:
                session.err(f"fatal: {exc}\n")
                return 1
        return run
    return start


def _version(session: Session) -> int:
    session.out(f"gerrit version {session.site.state.version}\n")
    return 0


def _query(session: Session) -> int:
    with session.site.lock:
        output = query.run(session.site.state, session.argv[2:])
    session.out(output)
    return 0


def _stream_events(session: Session) -> Runner:
    opts = parse(session.argv[2:], STREAM_OPTIONS)
    if opts.arguments:
        raise UsageError(f'"{opts.arguments[0]}" is not a valid option')
    types = frozenset(opts.get("subscribe")) if opts.get("subscribe") else None
    transport = session.channel.get_transport()
    subscription = session.site.bus.subscribe(types, drop=transport.close)

    def run() -> int:
        try:
            while not session.channel.closed:
                batch = _next_lines(subscription)
                if batch is None:
                    break
                if batch:
                    session.channel.sendall(b"".join(batch))
        except OSError:
            pass
        finally:
            session.site.bus.unsubscribe(subscription)
        return 0
    return run


def _next_lines(subscription, most: int = 256) -> list[bytes] | None:
    """Lines waiting (up to `most`), [] after a quiet moment (so a session
    the client closed is noticed), None once the subscription closed."""
    try:
        first = subscription.lines.get(timeout=0.2)
    except queue.Empty:
        return []
    batch = [first]
    while first is not None and len(batch) < most and not subscription.lines.empty():
        batch.append(subscription.lines.get())
    if None in batch:
        return None
    return batch


COMMANDS: dict[tuple[str, ...], Callable[[Session], Runner]] = {
    ("gerrit", "version"): _simple(_version),
    ("gerrit", "query"): _simple(_query),
    ("gerrit", "review"): lambda session: lambda: review_cmd.run(session),
    ("gerrit", "stream-events"): _stream_events,
    ("git-upload-pack",): _simple(git_cmd.upload_pack),
    ("git-receive-pack",): _simple(git_cmd.receive_pack),
}


def session_for(site, user: str, line: str, channel, env: dict[str, str]) -> Session:
    return Session(site, user, line, split(line), channel, dict(env))
