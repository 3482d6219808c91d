"""The data of each page, the same for the HTML page and its JSON twin.

Each function runs in a worker thread (it reads the store and files) and
returns plain JSON data; the templates only lay it out.
"""
from __future__ import annotations

from voluptuous import Required

from . import builds, estimates, history, publication
from .context import WebContext
from .errors import ApiError
from .live import chain_of, tested_on
from .status_view import status_view
from .validation import integer

NO_QUERY: dict = {}
DIFF_QUERY = {Required("from"): integer(1, 10**9), Required("to"): integer(1, 10**9)}


def status_data(ctx: WebContext, match: dict, query: dict) -> dict:
    def view() -> dict:
        status, results = ctx.state()
        return status_view(status, results, ctx.config.layout, ctx.clock(), ctx.change_url)
    return ctx.recent.get("status-view", view)


def results_data(ctx: WebContext, match: dict, query: dict) -> dict:
    found = history.history(ctx.state()[1], query)
    for record in found["results"]:
        record["url"] = ctx.change_url(record["project"], record["change"])
    found["pipelines"] = list(ctx.config.layout.pipelines)
    found["projects"] = sorted(ctx.config.layout.projects)
    found["result_kinds"] = list(history.RESULTS)
    return found


def build_data(ctx: WebContext, match: dict, query: dict) -> dict:
    build = match["build"]
    parsed = builds.parse_build_id(build)
    if parsed is None:
        raise ApiError(404, f"{build!r} is not a build id (ITEM-GENERATION-JOB)")
    item_id, generation, job_name = parsed
    status, results = ctx.state()
    typical = estimates.typical_durations(results).get(job_name)
    data = {"build": build, "item": item_id, "generation": generation, "job": job_name,
            "estimate": typical, "now": ctx.clock()}
    live = builds.find_live(status, build)
    finished = builds.find_finished(results, build) if live is None else None
    queued = builds.find_item(status, item_id) if live is None else live[:2]
    if live is None and finished is None and queued is None:
        raise ApiError(404, f"no build {build}: not queued, not in the results")
    if live:
        data.update(builds.job_summary(live[2], data["now"], typical), finished=False, current=True)
    elif finished:
        data.update(builds.job_summary(finished[1], data["now"], typical), finished=True,
                    current=True, outcome={k: finished[0].get(k) for k in
                                           ("result", "reason", "commit", "snapshot", "finished_at")})
    else:
        data.update(state="superseded", finished=True, current=False)   # an older generation
    source = finished[0] if finished else queued[1]
    pipeline = finished[0]["pipeline"] if finished else queued[0]["name"]
    data.update(pipeline=pipeline, project=source["project"], change=source["change"],
                branch=source["branch"], revision=source["revision"],
                url=ctx.change_url(source["project"], source["change"]))
    data.update(speculative(ctx, item_id) if queued and data["current"] else
                {"chain": None, "tested_on": None})
    data["published"], published_files = builds.published_in(ctx.config, build)
    data["artifacts"] = builds.exported(ctx.config, build) or published_files
    path = builds.log_file(ctx.config, ctx.reader, build)
    text, start, size = builds.read_log_tail(path)
    data["log"] = {"text": text, "from": start, "size": size, "raw": f"/builds/{build}/log",
                   "elsewhere": None}
    if not size and not data["finished"] and ctx.reader.shared is not None:
        data["log"]["elsewhere"] = builds.runs_where(ctx.reader, build)
        url = builds.remote_log(ctx.reader, build)
        remote = builds.read_remote_tail(url) if url else None
        if remote:                               # live, from the executor that runs it
            data["log"].update(zip(("text", "from", "size"), remote), elsewhere=None)
    return data


def speculative(ctx: WebContext, item_id: int) -> dict:
    scheduler = ctx.reader.with_store(ctx.live.refresh)
    if scheduler is None or item_id not in scheduler.state.index:
        return {"chain": None, "tested_on": None}
    return {"chain": chain_of(scheduler, item_id), "tested_on": tested_on(scheduler, item_id)}


def publication_data(ctx: WebContext, match: dict, query: dict) -> dict:
    return publication.overview(ctx.config)


def snapshot_data(ctx: WebContext, match: dict, query: dict) -> dict:
    number = match["number"]
    if not (number.isascii() and number.isdigit() and 0 < len(number) <= 9):
        raise ApiError(404, f"{number!r} is not a snapshot number")
    return publication.manifest(ctx.config, match["repository"], int(number))


def diff_data(ctx: WebContext, match: dict, query: dict) -> dict:
    return publication.diff(ctx.config, match["repository"], query["from"], query["to"])


RESULTS_QUERY = history.QUERY
