"""Where forge connections plug in their webhook: POST /api/connections/<name>/payload.

A connection whose driver takes webhooks offers a PayloadHandler as its
`webhook` attribute (`hooks_for` registers it under the connection's name),
or a caller registers one before the service starts. The route hands it the
raw body (already refused past web.max-body, never parsed), so the driver
can verify the signature on exactly the bytes that came, and answers with
what the handler returns. A connection without one answers 404: the git
driver has no webhooks.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from ..config.errors import quote
from ..config.model import Config
from ..drivers import registry
from .body import read_body
from .errors import ApiError

# (the request, its raw body) -> the response; the driver records what it accepts.
PayloadHandler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


class ConnectionHooks:
    """Payload handlers by connection name; registered before the service starts."""

    def __init__(self) -> None:
        self.handlers: dict[str, PayloadHandler] = {}

    def register(self, connection: str, handler: PayloadHandler) -> None:
        if connection in self.handlers:
            raise ValueError(f"connection {connection!r} already has a payload handler")
        self.handlers[connection] = handler

    def close(self) -> None:
        """Let go of what the handlers hold (a ZooKeeper session), at the service's end."""
        for handler in self.handlers.values():
            close = getattr(handler, "close", None)
            if close is not None:
                close()

    async def payload(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        handler = self.handlers.get(name)
        if handler is None:
            raise ApiError(404, f"connection {quote(name)} takes no webhook payloads "
                           "(no such connection, or its driver has no webhooks)")
        return await handler(request, await read_body(request))


def hooks_for(config: Config) -> ConnectionHooks:
    """A payload handler for every connection that has one (`webhook`, or
    its driver's `webhook_receiver`: the forge drivers)."""
    hooks = ConnectionHooks()
    for name, connection in config.connections.items():
        handler = getattr(connection, "webhook", None) or driver_webhook(config, name, connection)
        if handler is not None:
            hooks.register(name, handler)
    return hooks


def driver_webhook(config: Config, name: str, connection) -> PayloadHandler | None:
    driver = registry.DRIVERS.get(getattr(connection, "driver", None))
    if driver is None or driver.local:
        return None
    receiver = getattr(driver.connection_class(), "webhook_receiver", None)
    return receiver(name, dict(connection.settings), config.state_dir,
                    config.zookeeper) if receiver else None
