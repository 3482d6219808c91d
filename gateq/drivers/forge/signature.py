"""Is a webhook delivery from the forge? Checked on the raw body, before
anything parses it, and always in constant time (hmac.compare_digest).

- GitHub signs with HMAC-SHA256 of the body, `X-Hub-Signature-256: sha256=HEX`;
- Gitea and Forgejo with the same HMAC as bare hex in `X-Gitea-Signature`
  or `X-Forgejo-Signature`;
- GitLab does not sign: it sends the shared secret itself in `X-Gitlab-Token`.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Mapping


class Scheme(enum.Enum):
    HUB_SHA256 = "X-Hub-Signature-256"
    GITEA = "X-Gitea-Signature"
    GITLAB_TOKEN = "X-Gitlab-Token"


# Each scheme's headers, the first one present is read.
HEADERS = {Scheme.HUB_SHA256: ("X-Hub-Signature-256",),
           Scheme.GITEA: ("X-Gitea-Signature", "X-Forgejo-Signature"),
           Scheme.GITLAB_TOKEN: ("X-Gitlab-Token",)}


class BadSignature(Exception):
    """The delivery is not signed with the connection's secret; one line saying how."""


def hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign(scheme: Scheme, secret: bytes, body: bytes) -> dict[str, str]:
    """The header a forge would send with `body` (for the stand-in and tests)."""
    if scheme is Scheme.HUB_SHA256:
        return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body)}
    if scheme is Scheme.GITEA:
        return {"X-Gitea-Signature": hmac_hex(secret, body)}
    return {"X-Gitlab-Token": secret.decode()}


def verify(scheme: Scheme, secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    """Raises BadSignature unless `headers` sign `body` with `secret`."""
    name = next((h for h in HEADERS[scheme] if h in headers), None)
    if name is None:
        raise BadSignature(f"unsigned delivery: no {' or '.join(HEADERS[scheme])} header")
    given = headers[name].strip()
    if scheme is Scheme.GITLAB_TOKEN:
        expected = secret.decode()
    elif scheme is Scheme.HUB_SHA256:
        if not given.startswith("sha256="):
            raise BadSignature(f"{name} is not of the form sha256=HEX")
        given, expected = given[len("sha256="):], hmac_hex(secret, body)
    else:
        expected = hmac_hex(secret, body)
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        raise BadSignature(f"{name} does not match the connection's webhook secret")
