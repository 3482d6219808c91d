"""Running the web service: in a thread of its own, for `gateq web` and
inside `gateq serve`.

The service has its own event loop in its own thread, so the engine's loop
and the web never wait on each other; both only meet in the state
directory. `start` returns once the socket listens (or raises
ListenError), `stop` closes the streams, then the loop.
"""
from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web

from ..config.model import Config
from ..workers import LoopThread
from .app import make_app
from .connections import ConnectionHooks

log = logging.getLogger("gateq.web")

DEFAULT_LISTEN = ("127.0.0.1", 8080)      # `gateq web` when gateq.yaml names no address
SHUTDOWN_SECONDS = 2.0


class ListenError(Exception):
    """The address cannot be listened on; the message is one line."""


class WebService:
    def __init__(self, config: Config, listen: tuple[str, int],
                 hooks: ConnectionHooks | None = None):
        self.config, self.listen, self.hooks = config, listen, hooks
        self.thread = LoopThread("gateq-web")
        self.loop = self.thread.loop
        self.runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def start(self) -> str:
        """Listen and serve; the service's URL."""
        self.thread.start()
        try:
            self.address = self.thread.run(self._start())
        except OSError as exc:
            self.thread.close()
            host, port = self.listen
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ListenError(f"cannot listen on {host}:{port}: {why}") from None
        log.info("web service listening on %s", self.url)
        return self.url

    async def _start(self) -> tuple[str, int]:
        app = make_app(self.config, self.hooks)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS,
                                    handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.listen[0], self.listen[1], reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            raise
        return site._server.sockets[0].getsockname()[:2]

    def stop(self) -> None:
        if self.runner is not None:
            self.thread.run(self._stop(), timeout=SHUTDOWN_SECONDS + 10)
            self.runner = None
            log.info("web service stopped")
        self.thread.close()

    async def _stop(self) -> None:
        """Close the site and the streams, then end what connections are left."""
        await self.runner.cleanup()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

def embedded(config: Config) -> WebService | None:
    """The web service `gateq serve` runs, when gateq.yaml has web.listen; started."""
    if config.web.listen is None:
        return None
    service = WebService(config, config.web.listen)
    service.start()
    return service
