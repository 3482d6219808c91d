"""The webhook endpoint of a forge connection (POST
/api/connections/NAME/payload, gateq/web/connections.py), in the order
that keeps a forged or repeated delivery from doing anything:

1. the content type is JSON (415 otherwise: the forge is set to send form data);
2. the signature is checked on the raw body, before it is parsed (401);
3. the delivery has an id and an event name (400), and its body parses
   into the shape the dialect reads (400);
4. the delivery id is claimed (deliveries.py): taken before, it is
   answered 409 and ignored;
5. its review events go to the store's intake (ZooKeeper's with
   `zookeeper:`, else the state database), where the engine takes them up
   whether or not it runs now; if that fails the claim is released and
   the forge told 503, so its redelivery is taken.
Every refusal is one line of JSON (ApiError); nothing is recorded.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Callable, Sequence

from aiohttp import web

from ...state import open_store
from ...web.errors import ApiError
from ..records import ReviewEvent
from .deliveries import DeliveryLog
from .dialect import Dialect
from .signature import BadSignature, verify

log = logging.getLogger("gateq.web")

Record = Callable[[Sequence[ReviewEvent]], None]


class WebhookReceiver:
    def __init__(self, name: str, dialect: Dialect, secret: bytes, deliveries: DeliveryLog,
                 record: Record, web_url: str, shared=None) -> None:
        """`shared`: the ZooKeeper store `deliveries` and `record` use, if any."""
        self.shared = shared
        self.name = name
        self.dialect = dialect
        self.secret = secret
        self.deliveries = deliveries
        self.record = record
        self.web_url = web_url

    async def __call__(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if request.content_type != "application/json":
            raise ApiError(415, f"connection {self.name}: webhook content type must be "
                           f"application/json, not {request.content_type or 'none'}")
        try:
            verify(self.dialect.scheme, self.secret, request.headers, body)
        except BadSignature as exc:
            raise ApiError(401, f"connection {self.name}: {exc}") from None
        hook = self.dialect.hook(request.headers)
        if not hook.delivery or not hook.event:
            wanted = self.dialect.delivery_headers[0] if not hook.delivery \
                else self.dialect.event_headers[0]
            raise ApiError(400, f"connection {self.name}: the delivery has no {wanted} header")
        events = self.parse(body, hook)
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self.deliveries.claim, hook.delivery):
            raise ApiError(409, f"connection {self.name}: delivery {hook.delivery} was taken "
                           "before: ignored")
        try:
            await loop.run_in_executor(None, self.record, events)
        except Exception as exc:       # the edge: the forge redelivers what we could not keep
            await loop.run_in_executor(None, self.deliveries.release, hook.delivery)
            log.exception("connection %s: delivery %s could not be recorded", self.name,
                          hook.delivery)
            raise ApiError(503, f"connection {self.name}: the delivery could not be recorded: "
                           f"{exc}", {"Retry-After": "10"}) from None
        log.info("connection %s: %s delivery %s: %d event(s) recorded", self.name, hook.event,
                 hook.delivery, len(events))
        return web.json_response({"delivery": hook.delivery, "event": hook.event,
                                  "recorded": [e.kind.value for e in events]})

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()

    def parse(self, body: bytes, hook) -> list[ReviewEvent]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"connection {self.name}: the body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ApiError(400, f"connection {self.name}: the body is not a JSON object")
        try:
            return self.dialect.events(self.name, hook, payload, self.web_url)
        except ValueError as exc:
            raise ApiError(400, f"connection {self.name}: {hook.event} delivery: {exc}") from None


def intake_writer(state_dir: str, connection: str, shared=None) -> Record:
    """Events into the store's intake: `shared` (zk/shared.py: one
    ZooKeeper store for every thread), else the state database, on a store
    per thread, opened one at a time: the first may create the database,
    and two threads creating it at once would collide."""
    local, opening = threading.local(), threading.Lock()

    def record(events: Sequence[ReviewEvent]) -> None:
        if not events:
            return
        store = shared.get() if shared is not None else getattr(local, "store", None)
        if store is None:
            with opening:
                store = local.store = open_store(state_dir)
        for event in events:
            store.intake_add(connection, json.dumps(event.as_dict(), sort_keys=True), time.time())
    return record
