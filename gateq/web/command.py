"""`gateq web`: run the web service alone, until SIGTERM or Ctrl-C.

It needs no engine: pages read what the engine last wrote, and admin
requests are journaled for whenever an engine reads them.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from voluptuous import Invalid

from ..config.model import Config
from ..config.schema import is_loopback
from ..config.values import listen_address


def register(sub) -> None:
    text = "serve the status pages, the JSON and admin API and /metrics"
    parser = sub.add_parser("web", help=text, description=text)
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH",
                        help="gateq.yaml or the directory holding it (default: ./gateq.yaml)")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="address to listen on (default: web.listen, else 127.0.0.1:8080); "
                             "not loopback only with web.allow-remote")


def listen_for(config: Config, given: str | None) -> tuple[str, int]:
    from .server import DEFAULT_LISTEN
    if given is None:
        return config.web.listen or DEFAULT_LISTEN
    try:
        host, port = listen_address(given)
    except Invalid as exc:
        raise ValueError(f"--listen: {exc.msg}") from None
    if not config.web.allow_remote and not is_loopback(host):
        raise ValueError(f"--listen: {host} is not a loopback address (set web.allow-remote: "
                         "true in gateq.yaml to serve other hosts)")
    return host, port


def run(config: Config, args) -> int:
    from ..cli import Exit
    from ..service import start_logging
    from .server import ListenError, WebService
    listen = listen_for(config, args.listen)
    handler = start_logging()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service = WebService(config, listen)
        try:
            service.start()
        except ListenError as exc:
            print(f"gateq: error: {exc}", file=sys.stderr)
            return Exit.STATE
        stop.wait()
        service.stop()
        return Exit.OK
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        logging.getLogger("gateq").removeHandler(handler)
