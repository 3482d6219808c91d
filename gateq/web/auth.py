"""Bearer tokens of the admin API, checked against the SHA-256s gateq.yaml lists.

The token presented is hashed once, and its digest compared with every
configured digest in constant time, all of them whatever matches, so the
time taken tells nothing of which token or how much of it was right.
"""
from __future__ import annotations

import hashlib
import hmac

from ..config.model import AdminAction, WebToken
from .errors import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gateq"'}
MAX_TOKEN = 512


def authorise(header: str | None, tokens: tuple[WebToken, ...], action: AdminAction) -> WebToken:
    """The token that may take `action`: 401 without a valid token, 403 if it may not."""
    token = identify(header, tokens)
    if action not in token.actions:
        raise ApiError(403, f"token '{token.name}' may not {action.value} (it may: "
                       f"{', '.join(sorted(a.value for a in token.actions)) or 'nothing'})")
    return token


def identify(header: str | None, tokens: tuple[WebToken, ...]) -> WebToken:
    if not header:
        raise ApiError(401, "missing Authorization: Bearer <token>", CHALLENGE)
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise ApiError(401, "the Authorization header must be 'Bearer <token>'", CHALLENGE)
    if len(presented) > MAX_TOKEN:
        raise ApiError(401, "invalid token", CHALLENGE)
    digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest().encode()
    found = None
    for token in tokens:
        if hmac.compare_digest(digest, token.sha256.encode()):
            found = token
    if found is None:
        raise ApiError(401, "invalid token", CHALLENGE)
    return found
