"""The `gateq` command line.

Errors are one line and an exit code, never a traceback (see Exit).
Recording commands (event, enqueue, dequeue, promote) write to the journal
and return: they are durable whether or not an engine is running, and print
one line saying what they recorded.
"""
from __future__ import annotations

import argparse
import enum
import json
import sys
import time

from .config.loader import ConfigError, load_config
from .config.model import Config
from .core import events as ev
from .core.types import Change, full_ref
from .git.changes import resolve_change
from .git.repo import GitError, resolve
from .render import render_results, render_status
from .replay import current
from .sim import command as simulate
from .state import NoState, StateError, open_store


class Exit(enum.IntEnum):
    """Exit statuses, as the README documents them."""
    OK = 0
    CONFIG = 1          # the configuration is invalid
    USAGE = 2           # a bad request: arguments, unknown project, ref or change
    STATE = 3           # the state directory or the engine: corrupt, full, busy, crashed
    INTERRUPTED = 130


class UsageError(Exception):
    """A bad request from the user: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def config_option(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("-c", "--config", default=default, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")


def build_parser() -> Parser:
    parser = Parser(prog="gateq", description="Speculative gating with publishing inside the gate.")
    config_option(parser, "gateq.yaml")
    # -c also after the subcommand; SUPPRESS keeps a -c given before it.
    common = Parser(add_help=False)
    config_option(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                metavar="COMMAND")

    def command(name: str, text: str) -> Parser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    command("validate", "check the configuration and print every error")
    event = command("event", "record a code-review event for a change")
    event.add_argument("kind", choices=["proposed", "approved"],
                       help="proposed: enters check pipelines; approved: enters gate pipelines")
    add_change_args(event, pipeline=False)
    for name, text in (("enqueue", "put a change into a pipeline directly"),
                       ("dequeue", "take a change out of a pipeline"),
                       ("promote", "move a change to the head of its queue")):
        add_change_args(command(name, text), pipeline=True)
    run = command("run", "process what is recorded")
    run.add_argument("--until-idle", action="store_true",
                     help="exit once every pipeline is empty (without it: like serve)")
    command("serve", "run until stopped (SIGTERM), picking up new events")
    for name, text in (("status", "show each pipeline's queues and jobs"),
                       ("results", "show finished items, oldest first")):
        command(name, text).add_argument("--json", action="store_true", help="print JSON")
    simulate.register(sub)
    return parser


def add_change_args(parser: argparse.ArgumentParser, pipeline: bool) -> None:
    if pipeline:
        parser.add_argument("--pipeline", required=True, help="the pipeline's name")
    parser.add_argument("--project", required=True, help="the project's name")
    parser.add_argument("--change", required=True, help="a ref: fix-1 means refs/heads/fix-1")
    parser.add_argument("--branch", help="target branch (default: the project's default-branch)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "simulate":          # needs no configuration
            return simulate.run(args)
        config = load_config(args.config)
        return COMMANDS[args.command](config, args)
    except (UsageError, ValueError) as exc:
        print(f"gateq: error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return Exit.CONFIG
    except StateError as exc:
        print(f"gateq: error: {exc}", file=sys.stderr)
        return Exit.STATE
    except KeyboardInterrupt:
        return Exit.INTERRUPTED


def cmd_validate(config: Config, args) -> int:
    for warning in getattr(config, "warnings", ()):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.path}: configuration is valid")
    return Exit.OK


# -- recording commands ---------------------------------------------------

def cmd_record(config: Config, args) -> int:
    """event / enqueue / dequeue / promote: check the request, then journal it."""
    project = config.layout.projects.get(args.project)
    if project is None:
        raise UsageError(f"unknown project '{args.project}' (not in any layout)")
    pipeline = getattr(args, "pipeline", None)
    if pipeline is not None and pipeline not in config.layout.pipelines:
        raise UsageError(f"unknown pipeline '{pipeline}' (pipelines: "
                         f"{', '.join(config.layout.pipelines)})")
    store = open_store(config.state_dir)
    try:
        event, said = REQUESTS[args.command](config, store, args)
        seq = store.append(event)
    finally:
        store.close()
    print(f"recorded {said} (journal row {seq})")
    return Exit.OK


def request_event(config: Config, store, args) -> tuple[ev.Event, str]:
    change = pin(config, args)
    project = config.layout.projects[args.project]
    pipelines = [p.name for p in config.layout.pipelines.values() if p.name in project.pipelines
                 and any(t.connection == project.connection and t.event == args.kind for t in p.triggers)]
    where = f"enters {', '.join(pipelines)}" if pipelines else f"no pipeline of {project.name} " \
        f"triggers on {args.kind} events, so it enqueues nothing"
    return (ev.TriggerEvent(time.time(), project.connection, args.kind, change),
            f"{args.kind} event for {describe(change)}: {where}")


def request_enqueue(config: Config, store, args) -> tuple[ev.Event, str]:
    if args.pipeline not in config.layout.projects[args.project].pipelines:
        raise UsageError(f"project {args.project} runs no jobs in pipeline {args.pipeline}, "
                         "so it cannot be enqueued there")
    change = pin(config, args)
    return (ev.EnqueueRequested(time.time(), args.pipeline, change),
            f"enqueue of {describe(change)} into {args.pipeline}")


def request_dequeue(config: Config, store, args) -> tuple[ev.Event, str]:
    item = queued(config, store, args)
    return (ev.DequeueRequested(time.time(), args.pipeline, args.project, item.change.ref),
            f"dequeue of {item.change.name} (item {item.id}) from {args.pipeline}")


def request_promote(config: Config, store, args) -> tuple[ev.Event, str]:
    if not config.layout.pipelines[args.pipeline].dependent:
        raise UsageError(f"pipeline {args.pipeline} is independent: its items have no order "
                         "to promote in")
    item = queued(config, store, args)
    return (ev.PromoteRequested(time.time(), args.pipeline, args.project, item.change.ref),
            f"promotion of {item.change.name} (item {item.id}) to the head of its queue in "
            f"{args.pipeline}")


REQUESTS = {"event": request_event, "enqueue": request_enqueue,
            "dequeue": request_dequeue, "promote": request_promote}


def pin(config: Config, args) -> Change:
    """The change the user names, pinned to the commit its ref points to now."""
    branch = args.branch or config.layout.projects[args.project].default_branch
    try:
        return resolve_change(config.repo_path(args.project), args.project, args.change, branch)
    except GitError as exc:
        raise UsageError(str(exc)) from None


def queued(config: Config, store, args):
    """The item a dequeue or promote names, as the engine has or will have it."""
    scheduler = current(config, store)
    item = scheduler.find_change(args.pipeline, args.project, args.change, args.branch)
    if item is not None:
        return item
    repo = config.repo_path(args.project)
    ref = full_ref(args.change)
    if args.branch and resolve(repo, f"refs/heads/{args.branch}") is None:
        raise UsageError(f"project {args.project}: no branch {args.branch}")
    if resolve(repo, ref) is None:
        raise UsageError(f"project {args.project}: no ref {args.change}, and no such change is "
                         f"in pipeline {args.pipeline}")
    raise UsageError(f"{args.project}:{args.change} is not in pipeline {args.pipeline}"
                     + (f" for branch {args.branch}" if args.branch else ""))


def describe(change: Change) -> str:
    return f"{change.name} at {change.revision[:12]} for branch {change.branch}"


# -- the engine -------------------------------------------------------------

def cmd_run(config: Config, args) -> int:
    from .service import run_engine
    return run_engine(config, until_idle=args.until_idle)


def cmd_serve(config: Config, args) -> int:
    from .service import run_engine
    return run_engine(config, until_idle=False)


# -- reading --------------------------------------------------------------

def cmd_status(config: Config, args) -> int:
    try:
        store = open_store(config.state_dir, create=False)
    except NoState:
        status = {"pipelines": [], "running_builds": 0, "pending_events": 0}
    else:
        status = store.read_status() or {"pipelines": [], "running_builds": 0}
        cursor = status.get("cursor", store.last_checkpoint()[0])
        status["pending_events"] = store.pending_count(cursor)
        store.close()
    print(json.dumps(status, indent=2) if args.json else render_status(status))
    return Exit.OK


def cmd_results(config: Config, args) -> int:
    try:
        store = open_store(config.state_dir, create=False)
    except NoState:
        results = []
    else:
        results = store.results()
        store.close()
    print(json.dumps(results, indent=2) if args.json else render_results(results))
    return Exit.OK


COMMANDS = {"validate": cmd_validate, "event": cmd_record, "enqueue": cmd_record,
            "dequeue": cmd_record, "promote": cmd_record, "run": cmd_run, "serve": cmd_serve,
            "status": cmd_status, "results": cmd_results}


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
