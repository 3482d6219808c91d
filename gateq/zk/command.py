"""The `gateq scheduler`, `gateq executor` and `gateq merger` commands: their parser
entries and their edge (signals, logging, one line on every failure),
around scheduler.py, executor.py and merger.py."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Callable


def register(sub) -> None:
    text = ("run a scheduler on ZooKeeper (zookeeper: in gateq.yaml): one is active, the "
            "others stand by and take over from the journal")
    parser = sub.add_parser("scheduler", help=text, description=text)
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")
    text = ("run builds the active scheduler asks for in ZooKeeper (zookeeper: with "
            "executors: true in gateq.yaml), executor.slots at once")
    parser = sub.add_parser("executor", help=text, description=text)
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")
    parser.add_argument("--slots", type=positive, metavar="N",
                        help="builds at once (default: executor.slots of gateq.yaml)")
    text = ("make the merges the active scheduler asks for in ZooKeeper (zookeeper: with "
            "mergers: true in gateq.yaml)")
    parser = sub.add_parser("merger", help=text, description=text)
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")
    parser.add_argument("--slots", type=positive, metavar="N", default=2,
                        help="merges at once (default: 2)")


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def run(config, args) -> int:
    from .scheduler import run_scheduler
    return serve_until_stopped(config, "scheduler", "(without it, run gateq serve)",
                               lambda stop: run_scheduler(config, stop))


def run_executor(config, args) -> int:
    from ..cli import Exit
    if config.zookeeper is not None and not config.zookeeper.executors:
        print(f"gateq: error: {config.path}: gateq executor needs zookeeper.executors: true in "
              "gateq.yaml (else the schedulers run the builds themselves)", file=sys.stderr)
        return Exit.STATE
    from .executor import run_executor as run_it
    return serve_until_stopped(config, "executor", "(executors take builds from there)",
                               lambda stop: run_it(config, getattr(args, "slots", None), stop))


def run_merger(config, args) -> int:
    from ..cli import Exit
    if config.zookeeper is not None and not config.zookeeper.mergers:
        print(f"gateq: error: {config.path}: gateq merger needs zookeeper.mergers: true in "
              "gateq.yaml (else the active scheduler makes the merges itself)", file=sys.stderr)
        return Exit.STATE
    from .merger import run_merger as run_it
    return serve_until_stopped(config, "merger", "(mergers take merges from there)",
                               lambda stop: run_it(config, getattr(args, "slots", 2), stop))


def serve_until_stopped(config, what: str, hint: str, body: Callable[[Callable[[], bool]], None]
                        ) -> int:
    from ..cli import Exit
    from ..service import start_logging
    from ..state.errors import StateError
    if config.zookeeper is None:
        print(f"gateq: error: {config.path}: gateq {what} needs zookeeper: in gateq.yaml {hint}",
              file=sys.stderr)
        return Exit.STATE
    stopping: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    handler = start_logging()
    try:
        body(lambda: bool(stopping))
    except StateError as exc:
        print(f"gateq: error: {what} stopped: {exc}", file=sys.stderr)
        return Exit.STATE
    finally:
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger("gateq").removeHandler(handler)
    return Exit.OK
