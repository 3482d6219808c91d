"""Request bodies, refused past `web.max-body` before being read whole."""
from __future__ import annotations

from aiohttp import web

from .context import SITE
from .errors import ApiError


async def read_body(request: web.Request) -> bytes:
    """The whole body, at most max-body bytes (413 from the length alone if it says more)."""
    limit = request.app[SITE].settings.max_body
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body has {request.content_length} bytes, more than the "
                       f"{limit} web.max-body allows")
    chunks, size = [], 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is longer than the {limit} bytes web.max-body allows")
        chunks.append(chunk)
    return b"".join(chunks)
