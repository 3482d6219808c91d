"""An aiohttp application served on a loop thread of its own (workers.LoopThread),
for the servers of the ZooKeeper mode that must never hold up the process
that runs them: the active scheduler's artifact server, an executor's logs."""
from __future__ import annotations

from typing import Callable

from aiohttp import web

from ..workers import LoopThread


class AppThread:
    def __init__(self, name: str, host: str, port: int, advertised: str) -> None:
        self.host, self.port, self.advertised = host, port, advertised
        self.thread = LoopThread(name)
        self.loop = self.thread.loop
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.advertised}]" if ":" in self.advertised else self.advertised
        return f"http://{host}:{self.port}"

    def start(self, make_app: Callable[[], web.Application]) -> None:
        """Listen (OSError if it cannot) and serve; port 0 becomes the one taken."""
        self.thread.start()
        try:
            self.port = self.thread.run(self._start(make_app), timeout=30)
        except BaseException:
            self.thread.close()
            raise

    async def _start(self, make_app: Callable[[], web.Application]) -> int:
        self.runner = web.AppRunner(make_app(), access_log=None, handle_signals=False,
                                    shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self.runner.cleanup()
            raise
        return site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self.runner is not None:
            self.thread.run(self.runner.cleanup(), timeout=15)
            self.runner = None
        self.thread.close()
