"""An executor's build logs over HTTP, for `gateq web` on any host.

A build's log is written on the host that runs it; ZooKeeper gets only its
end, once it has finished (buildlogs.py). While it runs, the executor serves
the log itself at `zookeeper.log-listen`, advertised in its node under
/gateq/executors, so the web shows it live from any host:

    GET /logs/BUILD?offset=N   the bytes from N on, at most CHUNK of them;
    GET /logs/BUILD?last=N     its last N bytes (at most CHUNK), for a page;
                               X-Gateq-Log-Size: the log's size now,
                               X-Gateq-Log-Start: where the bytes begin

A log is plain text the web shows anyway; the address should still be one
only the web's hosts reach (docs/configuration.md).
"""
from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request

from aiohttp import web

from ..web.builds import parse_build_id
from .app_thread import AppThread

CHUNK = 1 << 20                # what one answer carries at most (the web shows the last MiB)
SIZE_HEADER = "X-Gateq-Log-Size"
START_HEADER = "X-Gateq-Log-Start"
FETCH_TIMEOUT = 5.0


class LogServer:
    def __init__(self, logs_dir: str, host: str, port: int, advertised: str | None = None) -> None:
        self.logs_dir = logs_dir
        self.app = AppThread("gateq-logs", host, port, advertised or (
            socket.getfqdn() if host in ("0.0.0.0", "::") else host))

    @property
    def url(self) -> str:
        return self.app.url

    def start(self) -> None:
        self.app.start(self._app)

    def stop(self) -> None:
        self.app.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/logs/{build}", self.get_log)
        return app

    async def get_log(self, request: web.Request) -> web.Response:
        build = request.match_info["build"]
        offset, last = request.query.get("offset", "0"), request.query.get("last")
        if parse_build_id(build) is None or not offset.isdigit() or not (
                last is None or last.isdigit()):
            raise web.HTTPBadRequest(text="expected /logs/ITEM-GENERATION-JOB?offset=N or "
                                          "?last=N\n")
        path = os.path.join(self.logs_dir, f"{build}.log")
        try:
            data, start, size = read_from(path, int(offset), None if last is None else int(last))
        except FileNotFoundError:
            raise web.HTTPNotFound(text=f"no log of build {build} here\n") from None
        return web.Response(body=data, content_type="text/plain", charset="utf-8",
                            headers={SIZE_HEADER: str(size), START_HEADER: str(start)})


def read_from(path: str, offset: int, last: int | None = None) -> tuple[bytes, int, int]:
    """(bytes, where they start, the log's size): from `offset`, or the
    `last` bytes; CHUNK at most either way."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = min(offset, size) if last is None else max(0, size - min(last, CHUNK))
        f.seek(start)
        return f.read(CHUNK), start, size


def fetch(url: str, offset: int) -> tuple[bytes, int] | None:
    """(bytes from `offset`, the log's size) from an executor's log server;
    None when it does not answer or has no such log."""
    found = _get(f"{url}?offset={offset}")
    return None if found is None else (found[0], found[2])


def fetch_tail(url: str, limit: int) -> tuple[bytes, int, int] | None:
    """(the log's last `limit` bytes, where they start, its size), in one request."""
    return _get(f"{url}?last={limit}")


def _get(url: str) -> tuple[bytes, int, int] | None:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as answer:
            return (answer.read(), int(answer.headers.get(START_HEADER, "0")),
                    int(answer.headers.get(SIZE_HEADER, "0")))
    except (OSError, ValueError, urllib.error.URLError):
        return None
