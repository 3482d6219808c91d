"""The HTTP face of artifacts_served.py, for executors on other hosts:
  GET /views/BUILD    the build's $GATEQ_REPOS, as a tar stream;
  PUT /exports/BUILD  an export build's artifacts/, as a tar body, unpacked
                      into <state>/remote-exports/BUILD (at most MAX_EXPORT_BYTES).
Each with the build's token in the X-Gateq-Token header, else 403 and
nothing is read. It runs in a thread with its own event loop, like the web
service (web/server.py), so that the engine's loop never waits on it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid

from aiohttp import web

from ..git.workspace import remove_tree
from .app_thread import AppThread
from .artifacts_served import ServedArtifacts
from .artifacts_tar import MAX_EXPORT_BYTES, BadArchive, extract, write_view
from .buildboard import TOKEN_HEADER

log = logging.getLogger("gateq.engine")

CHUNK = 1024 * 1024


class ArtifactServer:
    def __init__(self, served: ServedArtifacts, host: str, port: int, advertised: str) -> None:
        self.served = served
        self.app = AppThread("gateq-artifacts", host, port, advertised)
        self.loop = self.app.loop
        self.stopping = threading.Event()    # views being written stop at once

    @property
    def url(self) -> str:
        return self.app.url

    def start(self) -> None:
        """Listen (OSError if it cannot) and serve."""
        self.app.start(self._app)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=CHUNK)
        app.router.add_get("/views/{build}", self.get_view)
        app.router.add_put("/exports/{build}", self.put_export)
        return app

    def stop(self) -> None:
        self.stopping.set()
        self.app.stop()

    # -- handlers -----------------------------------------------------------------

    def _action(self, request: web.Request):
        build = request.match_info["build"]
        action = self.served.allowed(build, request.headers.get(TOKEN_HEADER, ""))
        if action is None:
            log.warning("artifacts: refused %s %s from %s: no such build or a wrong token",
                        request.method, request.path, request.remote)
            raise web.HTTPForbidden(text="no such build, or a wrong token\n")
        return action

    async def get_view(self, request: web.Request) -> web.StreamResponse:
        action = self._action(request)
        asked = self.served.ask_view(action)
        try:
            path = await asyncio.wrap_future(asked)
        except asyncio.CancelledError:
            self.served.sent_when_made(asked)
            raise
        except (OSError, ValueError) as exc:
            raise web.HTTPInternalServerError(text=f"cannot make the view: {exc}\n")
        response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        try:
            await response.prepare(request)
            await asyncio.get_running_loop().run_in_executor(
                None, write_view, path, _Sink(response, self.loop, self.stopping))
            await response.write_eof()
        except ConnectionError as exc:      # the executor went: it asks again, or not
            log.info("artifacts: the view of build %s was cut short: %s", action.build, exc)
        finally:
            self.served.view_sent(path)
        return response

    async def put_export(self, request: web.Request) -> web.Response:
        action = self._action(request)
        if not self.served.exports(action):
            raise web.HTTPForbidden(text=f"job {action.job} exports nothing\n")
        too_large = web.HTTPRequestEntityTooLarge(
            MAX_EXPORT_BYTES, request.content_length or 0,
            text=f"the artifacts are larger than {MAX_EXPORT_BYTES} bytes\n")
        if (request.content_length or 0) > MAX_EXPORT_BYTES:
            raise too_large
        os.makedirs(self.served.exports_dir, exist_ok=True)
        body = _Source(request.content, self.loop, self.stopping)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self._store_export, action.build, body)
        except BadArchive as exc:
            raise web.HTTPUnprocessableEntity(text=f"{exc}\n")
        except _TooLarge:
            raise too_large from None
        except ConnectionError as exc:       # the server stops, or the executor went
            raise web.HTTPServiceUnavailable(text=f"{exc}\n") from None
        return web.Response(status=204)

    def _store_export(self, build: str, body) -> None:
        """Unpacked aside, then in place: a retried upload replaces the first."""
        final = self.served.export_path(build)
        part = f"{final}.part-{uuid.uuid4().hex[:8]}"
        extract(body, part)
        remove_tree(final)
        os.rename(part, final)
        if not self.served.asked_for(build):      # cancelled while it came: not kept
            remove_tree(final)


class _TooLarge(Exception):
    """The upload went past MAX_EXPORT_BYTES."""


class _Source:
    """A file-like `read` for tarfile on a worker thread, reading the
    request's body on the server's loop as it comes (no copy on disk
    before it is unpacked), at most MAX_EXPORT_BYTES."""

    def __init__(self, content, loop: asyncio.AbstractEventLoop, stopping: threading.Event
                 ) -> None:
        self.content, self.loop, self.stopping = content, loop, stopping
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        came = asyncio.run_coroutine_threadsafe(self.content.read(CHUNK if size < 0 else size),
                                                self.loop)
        while not self.stopping.is_set():
            try:
                data = came.result(timeout=0.5)
                break
            except TimeoutError:
                continue
        else:
            came.cancel()
            raise ConnectionAbortedError("the artifact server stops")
        self.size += len(data)
        if self.size > MAX_EXPORT_BYTES:
            raise _TooLarge()
        return data


class _Sink:
    """A file-like `write` for tarfile on a worker thread, sending to the
    response on the server's loop (and waiting for it: back-pressure)."""

    def __init__(self, response: web.StreamResponse, loop: asyncio.AbstractEventLoop,
                 stopping: threading.Event) -> None:
        self.response, self.loop, self.stopping = response, loop, stopping

    def write(self, data: bytes) -> int:
        sent = asyncio.run_coroutine_threadsafe(self.response.write(bytes(data)), self.loop)
        while not self.stopping.is_set():
            try:
                sent.result(timeout=0.5)
                return len(data)
            except TimeoutError:
                continue
        sent.cancel()
        raise ConnectionAbortedError("the artifact server stops")
