"""The admin API: POST /api/event, /api/enqueue, /api/dequeue, /api/promote.

The same arguments as the command line, as a JSON object, checked by a
schema, then handed to gateq/requests.py, which checks them against the
configuration and the journal and records them exactly as `gateq enqueue`
does. The order of refusals: 401 (no valid token), 403 (not this token's
action), 415 (not JSON), 413 (too large), 400 (bad fields, or a request
requests.py refuses), 503 (the journal cannot be written).
"""
from __future__ import annotations

import logging

from aiohttp import web
from voluptuous import Optional, Required

from ..config.model import AdminAction
from ..requests import Request, RequestError, record
from ..state import StateError
from .auth import authorise
from .body import read_body
from .context import SITE
from .errors import ApiError
from .validation import one_of, parse_json_body, short_text

log = logging.getLogger("gateq.web")

CHANGE_FIELDS = {Required("project"): short_text, Required("change"): short_text,
                 Optional("branch"): short_text}
SCHEMAS = {
    AdminAction.EVENT: {Required("kind"): one_of(("proposed", "approved")), **CHANGE_FIELDS},
    **{action: {Required("pipeline"): short_text, **CHANGE_FIELDS}
       for action in (AdminAction.ENQUEUE, AdminAction.DEQUEUE, AdminAction.PROMOTE)},
}


def admin_handler(action: AdminAction):
    async def handle(request: web.Request) -> web.Response:
        site = request.app[SITE]
        token = authorise(request.headers.get("Authorization"), site.settings.tokens, action)
        require_json(request)
        fields = parse_json_body(await read_body(request), SCHEMAS[action])
        asked = Request(action=action.value, project=fields["project"], change=fields["change"],
                        branch=fields.get("branch"), pipeline=fields.get("pipeline"),
                        kind=fields.get("kind"))
        try:
            said, row = await site.run(record, site.config, asked)
        except RequestError as exc:
            log.warning("admin %s by token '%s' refused: %s", action.value, token.name, exc)
            site.metrics.admin(action.value, "refused")
            raise ApiError(400, str(exc)) from None
        except StateError as exc:
            log.error("admin %s by token '%s' not recorded: %s", action.value, token.name, exc)
            site.metrics.admin(action.value, "unavailable")
            raise ApiError(503, f"not recorded: {exc}", {"Retry-After": "5"}) from None
        log.info("admin %s by token '%s': recorded %s (journal row %d)", action.value,
                 token.name, said, row)
        site.metrics.admin(action.value, "recorded")
        return web.json_response({"recorded": said, "journal_row": row, "token": token.name})
    return handle


def require_json(request: web.Request) -> None:
    if request.content_type != "application/json":
        raise ApiError(415, f"the body must be application/json, not "
                       f"{request.content_type or 'unspecified'}")
