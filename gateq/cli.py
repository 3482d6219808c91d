"""The `gateq` command line.

Errors are one line and an exit code, never a traceback: 2 for usage
(bad arguments, unknown project or ref), 1 for configuration errors.
Recording commands (event, enqueue, dequeue, promote) write to the journal
and return: they are durable whether or not an engine is running.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback

from .config.loader import ConfigError, load_config
from .config.model import Config
from .core import events as ev
from .git.changes import resolve_change
from .git.repo import GitError
from .render import render_results, render_status
from .sim import command as simulate
from .store import Store


class UsageError(Exception):
    """A bad request from the user: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(prog="gateq", description="Speculative gating with publishing inside the gate.")
    parser.add_argument("-c", "--config", default="gateq.yaml",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("validate", help="check the configuration and print every error")
    event = sub.add_parser("event", help="record a code-review event for a change")
    event.add_argument("kind", choices=["proposed", "approved"])
    add_change_args(event, pipeline=False)
    for name, text in (("enqueue", "put a change into a pipeline directly"),
                       ("dequeue", "take a change out of a pipeline"),
                       ("promote", "move a change to the head of its queue")):
        add_change_args(sub.add_parser(name, help=text), pipeline=True)
    run = sub.add_parser("run", help="process what is recorded")
    run.add_argument("--until-idle", action="store_true",
                     help="exit once every pipeline is empty (without it: like serve)")
    sub.add_parser("serve", help="run until stopped (SIGTERM), picking up new events")
    for name in ("status", "results"):
        sub.add_parser(name, help=f"show {name}").add_argument("--json", action="store_true")
    simulate.register(sub)
    return parser


def add_change_args(parser: argparse.ArgumentParser, pipeline: bool) -> None:
    if pipeline:
        parser.add_argument("--pipeline", required=True)
    parser.add_argument("--project", required=True)
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
        return 2
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_validate(config: Config, args) -> int:
    print(f"{config.path}: configuration is valid")
    return 0


def cmd_record(config: Config, args) -> int:
    """event / enqueue / dequeue / promote: resolve, then journal."""
    project = config.layout.projects.get(args.project)
    if project is None:
        raise UsageError(f"unknown project '{args.project}' (not in any layout)")
    pipeline = getattr(args, "pipeline", None)
    if pipeline is not None and pipeline not in config.layout.pipelines:
        raise UsageError(f"unknown pipeline '{pipeline}'")
    now = time.time()
    if args.command in ("dequeue", "promote"):
        cls = ev.DequeueRequested if args.command == "dequeue" else ev.PromoteRequested
        event = cls(now, pipeline, args.project, args.change)
    else:
        branch = args.branch or project.default_branch
        try:
            change = resolve_change(config.repo_path(args.project), args.project, args.change, branch)
        except GitError as exc:
            raise UsageError(str(exc))
        event = (ev.EnqueueRequested(now, pipeline, change) if args.command == "enqueue"
                 else ev.TriggerEvent(now, project.connection, args.kind, change))
    store = Store(config.state_dir)
    store.append(event)
    store.close()
    return 0


def cmd_run(config: Config, args) -> int:
    return run_engine(config, until_idle=args.until_idle)


def cmd_serve(config: Config, args) -> int:
    return run_engine(config, until_idle=False)


def run_engine(config: Config, until_idle: bool) -> int:
    from .engine import Engine, EngineBusy
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    store = Store(config.state_dir)
    engine = Engine(config, store)
    try:
        engine.start()
    except EngineBusy as exc:
        raise UsageError(str(exc))
    try:
        engine.run(until_idle, should_stop=lambda: bool(stopping))
    except Exception as exc:       # the edge: the journal keeps everything accepted
        path = os.path.join(config.state_dir, "engine-crash.log")
        with open(path, "a") as f:
            traceback.print_exc(file=f)
        print(f"gateq: engine stopped: {type(exc).__name__}: {exc} (details in {path}; "
              f"nothing recorded is lost, start it again once fixed)", file=sys.stderr)
        return 1
    finally:
        engine.stop()
        store.close()
    return 0


def cmd_status(config: Config, args) -> int:
    store = Store(config.state_dir)
    status = store.read_status() or {"pipelines": [], "running_builds": 0}
    cursor = status.get("cursor", store.last_checkpoint()[0])
    status["pending_events"] = store.pending_count(cursor)
    print(json.dumps(status, indent=2) if args.json else render_status(status))
    return 0


def cmd_results(config: Config, args) -> int:
    results = Store(config.state_dir).results()
    print(json.dumps(results, indent=2) if args.json else render_results(results))
    return 0


COMMANDS = {"validate": cmd_validate, "event": cmd_record, "enqueue": cmd_record,
            "dequeue": cmd_record, "promote": cmd_record, "run": cmd_run, "serve": cmd_serve,
            "status": cmd_status, "results": cmd_results}


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
