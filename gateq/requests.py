"""What a user may ask of the gate: record an event, enqueue, dequeue, promote.

The command line and the web's admin API both come here, so a request is
checked the same way whoever makes it: the project, pipeline, ref and
branch must exist, a change already on its branch is refused, and a dequeue
or promote must name a change the journal holds in that pipeline. Each
accepted request is one journal row, durable once `record` returns.

A change is pinned through its project's connection (gateq/drivers): a ref
of the git driver, or a Gerrit change as 1234, 1234,2 or its patch set
ref. An event also carries what the change needs (its Depends-On and the
open changes it is based on, asked of their connections: review/needs.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .config.model import Config
from .core import events as ev
from .core.types import Change, full_ref
from .drivers.base import DriverError
from .drivers.records import ChangeRef, Origin, ReviewEvent, ReviewEventKind
from .git.repo import GitError, resolve
from .replay import current
from .review.connections import Connections
from .review.events import EventBuilder, Ignored
from .review.needs import Resolver
from .state import open_store

ACTIONS = ("event", "enqueue", "dequeue", "promote")
EVENT_KINDS = ("proposed", "approved")


class RequestError(Exception):
    """A request that cannot be taken; the message is one line."""


@dataclass(frozen=True)
class Request:
    action: str                      # one of ACTIONS
    project: str
    change: str                      # a ref: fix-1 means refs/heads/fix-1
    branch: str | None = None        # default: the project's default-branch
    pipeline: str | None = None      # enqueue, dequeue, promote
    kind: str | None = None          # event: proposed or approved


def record(config: Config, request: Request) -> tuple[str, int]:
    """Check `request` and journal it: (what was recorded, its journal row)."""
    check(config, request)
    store = open_store(config.state_dir, zookeeper=config.zookeeper)
    try:
        event, said = BUILDERS[request.action](config, store, request)
        return said, store.append(event)
    finally:
        store.close()


def check(config: Config, request: Request) -> None:
    if request.action not in ACTIONS:
        raise RequestError(f"unknown action '{request.action}' (one of {', '.join(ACTIONS)})")
    if request.project not in config.layout.projects:
        raise RequestError(f"unknown project '{request.project}' (not in any layout)")
    if request.action == "event":
        if request.kind not in EVENT_KINDS:
            raise RequestError(f"unknown event '{request.kind}' (one of {', '.join(EVENT_KINDS)})")
    elif request.pipeline not in config.layout.pipelines:
        raise RequestError(f"unknown pipeline '{request.pipeline}' (pipelines: "
                           f"{', '.join(config.layout.pipelines)})")


def event_request(config: Config, store, r: Request) -> tuple[ev.Event, str]:
    connections = Connections.build(config)
    change = pin(config, r, connections)
    project = config.layout.projects[r.project]
    pipelines = [p.name for p in config.layout.pipelines.values() if p.name in project.pipelines
                 and any(t.connection == project.connection and r.kind in t.events
                         for t in p.triggers)]
    where = (f"enters {', '.join(pipelines)}" if pipelines else
             f"no pipeline of {project.name} triggers on {r.kind} events, so it enqueues nothing")
    return (trigger_event(connections, r, change),
            f"{r.kind} event for {describe(change)}: {where}")


def trigger_event(connections: Connections, r: Request, change: Change) -> ev.TriggerEvent:
    """The event with what the change needs, as its connections say now."""
    connection = connections.of(r.project)
    heard = ReviewEvent(connection.name, ReviewEventKind(r.kind), r.project, change.branch,
                        ChangeRef(change.ref, change.revision, change.number,
                                  change.patchset), origin=Origin.HOOK)
    try:
        return EventBuilder(Resolver(connections), time.time).build(connection, heard).event
    except (DriverError, Ignored, GitError, ValueError) as exc:
        raise RequestError(str(exc)) from None


def enqueue_request(config: Config, store, r: Request) -> tuple[ev.Event, str]:
    if r.pipeline not in config.layout.projects[r.project].pipelines:
        raise RequestError(f"project {r.project} runs no jobs in pipeline {r.pipeline}, "
                           "so it cannot be enqueued there")
    change = pin(config, r)
    return (ev.EnqueueRequested(time.time(), r.pipeline, change),
            f"enqueue of {describe(change)} into {r.pipeline}")


def dequeue_request(config: Config, store, r: Request) -> tuple[ev.Event, str]:
    item = queued(config, store, r)
    return (ev.DequeueRequested(time.time(), r.pipeline, r.project, item.change.ref),
            f"dequeue of {item.change.name} (item {item.id}) from {r.pipeline}")


def promote_request(config: Config, store, r: Request) -> tuple[ev.Event, str]:
    if not config.layout.pipelines[r.pipeline].dependent:
        raise RequestError(f"pipeline {r.pipeline} is independent: its items have no order "
                           "to promote in")
    item = queued(config, store, r)
    return (ev.PromoteRequested(time.time(), r.pipeline, r.project, item.change.ref),
            f"promotion of {item.change.name} (item {item.id}) to the head of its queue in "
            f"{r.pipeline}")


BUILDERS = {"event": event_request, "enqueue": enqueue_request,
            "dequeue": dequeue_request, "promote": promote_request}


def pin(config: Config, r: Request, connections: Connections | None = None) -> Change:
    """The change the user names, pinned to the commit its ref points to now."""
    branch = r.branch or config.layout.projects[r.project].default_branch
    connection = (connections or Connections.build(config)).of(r.project)
    try:
        return connection.pin(r.project, connection.change_ref(r.change), branch)
    except (DriverError, GitError, ValueError) as exc:     # ValueError: a NUL in the ref
        raise RequestError(str(exc)) from None


def queued(config: Config, store, r: Request):
    """The item a dequeue or promote names, as the engine has or will have it."""
    item = current(config, store).find_change(r.pipeline, r.project, r.change, r.branch)
    if item is not None:
        return item
    repo = config.repo_path(r.project)
    try:
        if r.branch and resolve(repo, f"refs/heads/{r.branch}") is None:
            raise RequestError(f"project {r.project}: no branch {r.branch}")
        known = resolve(repo, full_ref(r.change)) is not None
    except (GitError, ValueError) as exc:
        raise RequestError(str(exc)) from None
    if not known:
        raise RequestError(f"project {r.project}: no ref {r.change}, and no such change is "
                           f"in pipeline {r.pipeline}")
    raise RequestError(f"{r.project}:{r.change} is not in pipeline {r.pipeline}"
                       + (f" for branch {r.branch}" if r.branch else ""))


def describe(change: Change) -> str:
    return f"{change.name} at {change.revision[:12]} for branch {change.branch}"
