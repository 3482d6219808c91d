"""The `gateq scheduler` command: its parser entry and its edge (signals,
logging, one line on every failure), around scheduler.py."""
from __future__ import annotations

import argparse
import logging
import signal
import sys


def register(sub) -> None:
    text = ("run a scheduler on ZooKeeper (zookeeper: in gateq.yaml): one is active, the "
            "others stand by and take over from the journal")
    parser = sub.add_parser("scheduler", help=text, description=text)
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")


def run(config, args) -> int:
    from ..cli import Exit
    from ..service import start_logging
    from ..state.errors import StateError
    if config.zookeeper is None:
        print(f"gateq: error: {config.path}: gateq scheduler needs zookeeper: in gateq.yaml "
              "(without it, run gateq serve)", file=sys.stderr)
        return Exit.STATE
    from .scheduler import run_scheduler
    stopping: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    handler = start_logging()
    try:
        run_scheduler(config, lambda: bool(stopping))
    except StateError as exc:
        print(f"gateq: error: scheduler stopped: {exc}", file=sys.stderr)
        return Exit.STATE
    finally:
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger("gateq").removeHandler(handler)
    return Exit.OK
