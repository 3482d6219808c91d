"""Every refusal is one line of JSON: `{"error": "..."}` with a 4xx or 5xx status.

Handlers raise ApiError (or aiohttp's HTTP exceptions, which the router and
the body reader raise); the middleware turns each into that form, and an
unexpected exception into a 500 whose traceback goes to the log, never to
the client.
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from ..config.errors import one_line
from .reader import Unavailable

log = logging.getLogger("gateq.web")


class ApiError(Exception):
    """A request refused with `status`; `message` is shown as the one line."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict | None = None) -> web.Response:
    body = json.dumps({"error": one_line(message)}) + "\n"
    return web.Response(status=status, text=body, content_type="application/json",
                        headers=headers)


# What aiohttp's own refusals mean, said the way a user reads them.
HTTP_MESSAGES = {404: "no such page or endpoint", 405: "method not allowed here",
                 413: "request body too large"}


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.headers)
    except Unavailable as exc:
        return error_response(503, f"the state cannot be read: {exc}", {"Retry-After": "5"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise                                   # redirects stay redirects
        message = HTTP_MESSAGES.get(exc.status, exc.reason)
        if exc.status == 405:
            message += f" (allowed: {', '.join(sorted(exc.allowed_methods))})"
        return error_response(exc.status, f"{request.path}: {message}")
    except Exception:          # the edge: log it, answer one line, keep serving
        log.exception("web: %s %s failed", request.method, request.path_qs)
        return error_response(500, f"{request.path}: internal error (details in the log)")
