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
from .render import render_results, render_status
from .requests import Request, RequestError, record
from .sim import command as simulate
from .state import NoState, StateError, open_store
from .web import command as web
from .zk import command as scheduler


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
    hook = command("hook", "run as a code-review hook script, or install one: "
                           "gerrit [--connection C] HOOK-NAME ARGS... | git post-receive "
                           "--connection C --project P | install --connection C --project P")
    hook.add_argument("words", nargs=argparse.REMAINDER, metavar="ARGS",
                      help="what the hook is told (the hooks plugin's arguments)")
    simulate.register(sub)
    web.register(sub)
    scheduler.register(sub)
    return parser


def add_change_args(parser: argparse.ArgumentParser, pipeline: bool) -> None:
    if pipeline:
        parser.add_argument("--pipeline", required=True, help="the pipeline's name")
    parser.add_argument("--project", required=True, help="the project's name")
    parser.add_argument("--change", required=True, help="a ref: fix-1 means refs/heads/fix-1")
    parser.add_argument("--branch", help="target branch (default: the project's default-branch)")


def main(argv: list[str] | None = None) -> int:
    args = argparse.Namespace(command=None)
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
        if args.command == "validate":
            for warning in getattr(exc, "warnings", ()):
                print(f"warning: {warning}", file=sys.stderr)
        return Exit.CONFIG
    except StateError as exc:
        print(f"gateq: error: {exc}", file=sys.stderr)
        return Exit.STATE
    except KeyboardInterrupt:
        return Exit.INTERRUPTED


def cmd_validate(config: Config, args) -> int:
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{config.path}: configuration is valid")
    return Exit.OK


# -- recording commands ---------------------------------------------------

def cmd_record(config: Config, args) -> int:
    """event / enqueue / dequeue / promote: check the request, then journal it."""
    request = Request(action=args.command, project=args.project, change=args.change,
                      branch=args.branch, pipeline=getattr(args, "pipeline", None),
                      kind=getattr(args, "kind", None))
    try:
        said, seq = record(config, request)
    except RequestError as exc:
        raise UsageError(str(exc)) from None
    print(f"recorded {said} (journal row {seq})")
    return Exit.OK


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
        store = open_store(config.state_dir, create=False, zookeeper=config.zookeeper)
    except NoState:
        status = {"pipelines": [], "running_builds": 0, "pending_events": 0}
    else:
        status = store.read_status() or {"pipelines": [], "running_builds": 0}
        cursor = status.get("cursor", store.last_checkpoint()[0])
        status["pending_events"] = store.pending_count(cursor)
        status["intake"] = store.intake_counts()    # hook scripts write while no engine runs
        if hasattr(store, "processes"):             # ZooKeeper: the gate's processes
            status["processes"] = store.processes()
        store.close()
    print(json.dumps(status, indent=2) if args.json else
          "\n".join([render_status(status), *render_connections(status.get("connections", {})),
                     *render_processes(status.get("processes"))]))
    return Exit.OK


def render_processes(processes: dict | None) -> list[str]:
    """With ZooKeeper: the schedulers, the active one first, and the
    executors' and mergers' load."""
    if processes is None:
        return []
    names = processes["schedulers"]
    lines = [f"schedulers: {names[0]} (active)" + "".join(f", {n}" for n in names[1:])
             if names else "schedulers: none running"]
    for kind in ("executors", "mergers"):
        if processes[kind]:
            lines.append(f"{kind}: " + ", ".join(f"{p['name']} ({p['running']}/{p['slots']} busy)"
                                                 for p in processes[kind]))
    return lines


def render_connections(connections: dict) -> list[str]:
    """One line per connection that has a link (the git driver's is the
    repository itself): its state, and why it is down."""
    lines = []
    for name, shown in sorted(connections.items()):
        if shown.get("driver") == "git":
            continue
        error = f": {shown['last_error']}" if shown.get("last_error") and \
            shown.get("state") != "up" else ""
        lines.append(f"connection {name} ({shown.get('driver')}): {shown.get('state')}{error}")
    return lines


def cmd_results(config: Config, args) -> int:
    try:
        store = open_store(config.state_dir, create=False, zookeeper=config.zookeeper)
    except NoState:
        results = []
    else:
        results = store.results()
        store.close()
    print(json.dumps(results, indent=2) if args.json else render_results(results))
    return Exit.OK


# -- hooks ------------------------------------------------------------------

def cmd_hook(config: Config, args) -> int:
    """`gateq hook ...`: journal what a hook script is told into the state
    database's intake, whether or not an engine runs (it takes the rows up
    when it runs); or install the git post-receive hook."""
    from .hooks import hook_main
    words = list(args.words)
    if words[:1] == ["install"]:
        return install_hook(config, words[1:])
    store = open_store(config.state_dir, zookeeper=config.zookeeper)
    gerrit = [name for name, c in config.connections.items() if c.driver == "gerrit"]

    def journal(event) -> None:
        store.intake_add(event.connection, json.dumps(event.as_dict(), sort_keys=True),
                         time.time())
    try:
        return hook_main(words, journal, default_connection=gerrit[0] if len(gerrit) == 1
                         else None)
    finally:
        store.close()


def install_hook(config: Config, words: list[str]) -> int:
    from .drivers.git.install import InstallError
    from .hooks import HookError, install, named_options
    try:
        options = named_options(words, ("--connection", "--project"), "hook install")
    except HookError as exc:
        raise UsageError(str(exc)) from None
    connection, project = options["--connection"], options["--project"]
    spec = config.connections.get(connection)
    if spec is None or spec.driver != "git":
        raise UsageError(f"hook install: {connection!r} is not a git connection of "
                         f"{config.path}")
    command = [sys.executable, "-m", "gateq.cli", "-c", config.path]
    try:
        print(install(config.repo_path(project), command, connection, project))
    except InstallError as exc:
        raise UsageError(str(exc)) from None
    return Exit.OK


COMMANDS = {"validate": cmd_validate, "event": cmd_record, "enqueue": cmd_record,
            "dequeue": cmd_record, "promote": cmd_record, "run": cmd_run, "serve": cmd_serve,
            "status": cmd_status, "results": cmd_results, "web": web.run, "hook": cmd_hook,
            "scheduler": scheduler.run, "executor": scheduler.run_executor,
            "merger": scheduler.run_merger}


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
