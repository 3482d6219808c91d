"""Server-sent events: the status as it changes, and a build's log as it grows.

The store and the log file are polled (every POLL seconds) from the worker
threads: the engine is another process, and polling a WAL database or a
file's size is cheap. A stream ends when its client leaves, when the
service stops, and, for a log, once the build has finished and the whole
log was sent.
"""
from __future__ import annotations

import asyncio
import codecs
import json
import os
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

POLL = 0.25
HEARTBEAT = 15.0            # a comment line now and then keeps proxies from closing the stream
CHUNK = 256 * 1024


async def send_events(request: web.Request, events: AsyncIterator[tuple[str, str]]
                      ) -> web.StreamResponse:
    """Answer with text/event-stream, one event per (name, data) pair."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    if request.method == "HEAD":
        return response                  # the headers say what it is; no stream follows
    try:
        async for name, data in events:
            if name:
                lines = "".join(f"data: {line}\n" for line in data.split("\n"))
                await response.write(f"event: {name}\n{lines}\n".encode())
            else:
                await response.write(b": heartbeat\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass                      # the client left, or the service is stopping
    return response


async def watch(key: Callable[[], Awaitable[str]], render: Callable[[], Awaitable[str]],
                stopping: asyncio.Event, name: str) -> AsyncIterator[tuple[str, str]]:
    """`render()` now and whenever `key()` changes, with heartbeats between."""
    last, quiet = None, 0.0
    while not stopping.is_set():
        now = await key()
        if now != last:
            last, quiet = now, 0.0
            yield name, await render()
        elif quiet >= HEARTBEAT:
            quiet = 0.0
            yield "", ""
        await pause(stopping)
        quiet += POLL


async def pause(stopping: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), POLL)
    except asyncio.TimeoutError:
        pass


class LogTail:
    """Reads a log from an offset; UTF-8 split across reads is kept whole.
    `locate()` says which file, asked at each read: the log of a build run
    on another host appears (from ZooKeeper) once it has finished."""

    def __init__(self, locate: Callable[[], str], offset: int,
                 remote: Callable[[], "str | None"] | None = None):
        self.locate = locate
        self.offset = offset
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.remote = remote             # where an executor serves it live (zk/live_logs.py)
        self.remote_url: str | None = None
        self.remote_size = 0

    def read(self) -> str:
        if self.remote_url is None and self.remote and not os.path.isfile(self.locate()):
            self.remote_url = self.remote()
        if self.remote_url:
            from ..zk import live_logs       # only with zookeeper: (remote is None without)
            found = live_logs.fetch(self.remote_url, self.offset)
            if found is not None:
                data, self.remote_size = found
                self.offset += len(data)
                return self.decoder.decode(data)
            self.remote_url = self.remote = None   # its executor went: the copy in ZooKeeper
        try:
            with open(self.locate(), "rb") as f:
                f.seek(self.offset)
                data = f.read(CHUNK)
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        return self.decoder.decode(data)

    def size(self) -> int:
        if self.remote_url:
            return self.remote_size
        try:
            return os.path.getsize(self.locate())
        except FileNotFoundError:
            return 0


async def tail_log(tail: LogTail, finished: Callable[[], Awaitable[bool]], run,
                   stopping: asyncio.Event) -> AsyncIterator[tuple[str, str]]:
    """`log` events with the text added since the offset; `end` once the
    build has finished and everything is sent."""
    quiet = 0.0
    while not stopping.is_set():
        done = await finished()            # asked before reading: no line written after it is lost
        text = await run(tail.read)
        if text:
            quiet = 0.0
            yield "log", json.dumps({"offset": tail.offset, "text": text})
            continue
        if done and tail.offset >= await run(tail.size):
            yield "end", json.dumps({"offset": tail.offset})
            return
        if quiet >= HEARTBEAT:
            quiet = 0.0
            yield "", ""
        await pause(stopping)
        quiet += POLL
