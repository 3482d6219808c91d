"""The aiohttp application: its routes, and how a page and its twin are served.

Every page is registered twice from one data function: `/PATH` renders it
with its template, `/api/PATH` answers the same data as JSON. Blocking work
(the store, files, git, templates) runs in a small pool of worker threads,
so the event loop only moves bytes and the streams stay live.
"""
from __future__ import annotations

import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from voluptuous import Optional

from ..config.model import AdminAction, Config
from . import builds, pages, streams
from .admin import admin_handler
from .connections import ConnectionHooks, hooks_for
from .context import SITE, Site, WebContext
from .errors import ApiError, json_errors
from .estimates import FINISHED
from .metrics import WebMetrics
from .render import template_environment
from .validation import integer, parse_query

WORKERS = 8
HERE = os.path.dirname(os.path.abspath(__file__))

# path, template, data function, query schema, whether its page may be FRESH_SECONDS old
PAGES = (
    ("/status", "status.html", pages.status_data, pages.NO_QUERY, True),
    ("/results", "results.html", pages.results_data, pages.RESULTS_QUERY, False),
    ("/builds/{build}", "build.html", pages.build_data, pages.NO_QUERY, False),
    ("/publication", "publication.html", pages.publication_data, pages.NO_QUERY, False),
    ("/publication/{repository}/snapshots/{number}", "snapshot.html", pages.snapshot_data,
     pages.NO_QUERY, False),
    ("/publication/{repository}/diff", "diff.html", pages.diff_data, pages.DIFF_QUERY, False),
)
LOG_QUERY = {Optional("offset", default="0"): integer(0, 2**53)}
REFRESH_EVERY = 5.0          # the status stream resends this often, for elapsed times and ETAs


def make_app(config: Config, hooks: ConnectionHooks | None = None,
             context: WebContext | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=config.web.max_body)
    ctx = context or WebContext.of(config)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="gateq-web")
    app[SITE] = site = Site(
        ctx=ctx, settings=config.web,
        run=lambda fn, *args: asyncio.get_running_loop().run_in_executor(pool, fn, *args),
        stopping=asyncio.Event(), metrics=WebMetrics(ctx.reader, config.layout),
        templates=template_environment(), hooks=hooks or hooks_for(config))
    add_routes(app)

    async def stop_streams(app: web.Application) -> None:
        site.stopping.set()

    async def release(app: web.Application) -> None:
        pool.shutdown(wait=False, cancel_futures=True)
        ctx.reader.close()
        site.hooks.close()
    app.on_shutdown.append(stop_streams)
    app.on_cleanup.append(release)
    return app


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", to_status)
    for path, template, data, query, recent in PAGES:
        router.add_get(path, page_handler(template, data, query, recent))
        router.add_get("/api" + path, twin_handler(data, query))
    router.add_get("/status/events", status_events(html=True))
    router.add_get("/api/status/events", status_events(html=False))
    router.add_get("/builds/{build}/log", raw_log)
    router.add_get("/api/builds/{build}/log/events", log_events)
    for action in AdminAction:
        router.add_post(f"/api/{action.value}", admin_handler(action))
    router.add_post("/api/connections/{name}/payload", app[SITE].hooks.payload)
    router.add_get("/metrics", metrics)
    router.add_get("/static/{name}", static)


async def to_status(request: web.Request):
    raise web.HTTPFound("/status")


def page_handler(template: str, data: Callable, schema: dict, recent: bool):
    async def handle(request: web.Request) -> web.Response:
        query = parse_query(request.query, schema)
        site = request.app[SITE]

        def render() -> str:
            found = data(site.ctx, dict(request.match_info), query)
            twin = "/api" + request.path_qs
            return site.templates.get_template(template).render(data=found, api=twin)

        def page() -> str:
            return site.ctx.recent.get(f"page {request.path_qs}", render) if recent else render()
        return web.Response(text=await site.run(page), content_type="text/html")
    return handle


def twin_handler(data: Callable, schema: dict):
    async def handle(request: web.Request) -> web.Response:
        query = parse_query(request.query, schema)
        site = request.app[SITE]
        found = await site.run(data, site.ctx, dict(request.match_info), query)
        return web.json_response(found)
    return handle


def status_events(html: bool):
    """The status data, or the page's queue fragment, each time it changes."""
    async def handle(request: web.Request) -> web.StreamResponse:
        parse_query(request.query, pages.NO_QUERY)
        site = request.app[SITE]
        ctx = site.ctx

        def read() -> str:
            def render() -> str:
                found = pages.status_data(ctx, {}, {})
                if not html:
                    return json.dumps(found)
                return site.templates.get_template("_queues.html").render(data=found)
            return ctx.recent.get(f"status-events-{html}", render)

        def changed() -> str:
            def key() -> str:
                status, results = ctx.state()
                return json.dumps([status, len(results), int(ctx.clock() / REFRESH_EVERY)])
            return ctx.recent.get("status-key", key)          # one for every stream polling

        events = streams.watch(lambda: site.run(changed), lambda: site.run(read),
                               site.stopping, "status")
        return await streams.send_events(request, events)
    return handle


def build_state(ctx: WebContext, build: str) -> str | None:
    """The build's state now ('finished' once it is in no queue), None if unknown."""
    status, results = ctx.state()        # a stale answer can only say "not yet finished"
    live = builds.find_live(status, build)
    if live:
        return "finished" if live[2]["state"] in FINISHED else live[2]["state"]
    if builds.find_finished(results, build):
        return "finished"
    parsed = builds.parse_build_id(build)
    if parsed and builds.find_item(status, parsed[0]):
        return "finished"                       # an older generation: it runs no more
    return None


async def log_events(request: web.Request) -> web.StreamResponse:
    query = parse_query(request.query, LOG_QUERY)
    site, build = request.app[SITE], request.match_info["build"]
    if builds.parse_build_id(build) is None or await site.run(build_state, site.ctx, build) is None:
        raise ApiError(404, f"no build {build}")
    tail = streams.LogTail(lambda: builds.log_file(site.config, site.ctx.reader, build),
                           query["offset"], remote=remote_log(site, build))

    async def finished() -> bool:
        return await site.run(build_state, site.ctx, build) == "finished"
    return await streams.send_events(request, streams.tail_log(tail, finished, site.run,
                                                               site.stopping))


async def raw_log(request: web.Request) -> web.StreamResponse:
    parse_query(request.query, pages.NO_QUERY)
    build, site = request.match_info["build"], request.app[SITE]
    if builds.parse_build_id(build) is None:
        raise ApiError(404, f"{build!r} is not a build id (ITEM-GENERATION-JOB)")
    path = await site.run(builds.log_file, site.config, site.ctx.reader, build)
    if not os.path.isfile(path) and site.ctx.reader.shared is not None:
        relayed = await relay_log(request, site, build)
        if relayed is not None:
            return relayed
    if not os.path.isfile(path):
        where = await site.run(builds.runs_where, site.ctx.reader, build)
        raise ApiError(404, f"no log for build {build} here: " + (
            f"not finished yet (it runs on {where}, whose host has its log), or "
            "expired" if where else "not started yet, or expired"))
    return web.FileResponse(path, headers={"Content-Type": "text/plain; charset=utf-8"})


def remote_log(site, build: str):
    """With ZooKeeper: asks where an executor serves the build's log live."""
    if site.ctx.reader.shared is None:
        return None
    return lambda: builds.remote_log(site.ctx.reader, build)


async def relay_log(request: web.Request, site, build: str) -> web.StreamResponse | None:
    """The log of a build running on an executor, as far as it is written,
    from that executor's log server (zk/live_logs.py); None: none serves it."""
    from ..zk.live_logs import fetch
    url = await site.run(builds.remote_log, site.ctx.reader, build)
    found = await site.run(fetch, url, 0) if url else None
    if found is None:
        return None
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    data, size = found
    offset = len(data)
    await response.write(data)
    while data and offset < size:
        found = await site.run(fetch, url, offset)
        if found is None:
            break
        data = found[0]
        offset += len(data)
        await response.write(data)
    await response.write_eof()
    return response


STATIC = {"gateq.css": "text/css", "gateq.js": "text/javascript"}


async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise ApiError(404, f"no static file {name!r}")
    return web.FileResponse(os.path.join(HERE, "static", name),
                            headers={"Content-Type": f"{STATIC[name]}; charset=utf-8"})


async def metrics(request: web.Request) -> web.Response:
    parse_query(request.query, pages.NO_QUERY)
    site = request.app[SITE]
    body = await site.run(generate_latest, site.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
