"""Running the engine as a command: logging, signals, and the crash edge.

`gateq serve` and `gateq run` log to stderr: the start, each item's
enqueue, result and landing, problems, and the stop. An engine that dies
says why in one line; the traceback goes to `<state>/engine-crash.log`
unless the disk is full (then writing it could only fail too).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import traceback

from .config.model import Config
from .state import DiskFull, StateError, open_store

log = logging.getLogger("gateq")


def run_engine(config: Config, until_idle: bool) -> int:
    from .cli import Exit
    from .engine import Engine
    from .state.dirlock import EngineBusy
    handler = start_logging()
    stopping: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        store = open_store(config.state_dir, zookeeper=config.zookeeper)
        engine = Engine(config, store)
        try:
            engine.lock()
        except EngineBusy as exc:
            store.close()
            print(f"gateq: error: {exc}", file=sys.stderr)
            return Exit.STATE
        web = None
        if not until_idle:                   # aiohttp is half a second to import: serve only
            from .web.server import ListenError, embedded
            try:
                web = embedded(config)       # web.listen in gateq.yaml
            except ListenError as exc:
                engine.stop()
                store.close()
                print(f"gateq: error: {exc}", file=sys.stderr)
                return Exit.STATE
        try:
            return supervise(engine, store, config, until_idle, lambda: bool(stopping))
        finally:
            if web:
                web.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger("gateq").removeHandler(handler)


def supervise(engine, store, config: Config, until_idle: bool, should_stop) -> int:
    """Start, run and stop a locked engine; every failure is one line."""
    from .cli import Exit
    log.info("engine starting on %s (%d build slots)", config.state_dir, config.slots)
    for warning in config.warnings:
        log.warning("%s", warning)
    try:
        engine.start()
        engine.run(until_idle, should_stop=should_stop)
    except StateError as exc:
        print(f"gateq: error: engine stopped: {exc}", file=sys.stderr)
        return Exit.STATE
    except Exception as exc:       # the edge: the journal keeps everything accepted
        where = write_crash_log(config.state_dir, exc)
        print(f"gateq: error: engine stopped: {type(exc).__name__}: {exc} ({where}; "
              f"nothing recorded is lost, start it again once fixed)", file=sys.stderr)
        return Exit.STATE
    finally:
        engine.stop()
        store.close()
        log.info("engine stopped")
    return Exit.OK


def start_logging() -> logging.Handler:
    """One line per record on stderr, as it is at this moment (tests swap it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("gateq")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    return handler


def write_crash_log(state_dir: str, exc: BaseException) -> str:
    """Where the traceback went, in a few words; never raises."""
    if isinstance(exc, DiskFull) or getattr(exc, "errno", None) == 28:
        return "no traceback written: the disk is full"
    path = os.path.join(state_dir, "engine-crash.log")
    try:
        with open(path, "a") as f:
            traceback.print_exception(exc, file=f)
    except OSError as err:
        return f"no traceback written: {path}: {err.strerror}"
    return f"details in {path}"
