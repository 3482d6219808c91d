"""A small JSON REST client for a forge's API: every call under a timeout,
the token in a header (never in a URL or a log line), and an answer that
went wrong told as the driver layer's errors, one line each: Unreachable
for no answer or a 5xx or 429 (retry later), NotFound for 404, DriverError
with the forge's own message for the rest. Pages are followed by the
dialect's `next_page` (Link rel="next", or GitLab's X-Next-Page).

stdlib urllib is enough for the few calls a forge driver makes.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ..base import DriverError, NotFound, Unreachable

MAX_PAGES = 100                   # pages of one listing followed, at most
MAX_ANSWER = 16 * 2**20           # bytes of one answer read, at most


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    data: object


class RestClient:
    def __init__(self, name: str, base: str, auth: Mapping[str, str], timeout: float = 30.0,
                 next_page: Callable[[Answer, str], str | None] | None = None) -> None:
        self.name = name                  # the connection, for messages
        self.base = base.rstrip("/") + "/"
        self.auth = dict(auth)
        self.timeout = timeout
        self.next_page = next_page or link_next

    def url(self, path: str) -> str:
        return urljoin(self.base, path.lstrip("/"))

    def call(self, method: str, path: str, body: object = None,
             timeout: float | None = None) -> Answer:
        url = path if "://" in path else self.url(path)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": "gateq", **self.auth}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw = response.read(MAX_ANSWER + 1)
                status, headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            raise self.refusal(method, path, exc) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"{self.name}: {method} {path}: no answer: {reason}") from None
        if len(raw) > MAX_ANSWER:
            raise DriverError(f"{self.name}: {method} {path}: the answer is over "
                              f"{MAX_ANSWER} bytes")
        try:
            return Answer(status, headers, _json(raw))
        except (ValueError, UnicodeDecodeError):
            raise DriverError(f"{self.name}: {method} {path}: the answer is not JSON") from None

    def get(self, path: str, timeout: float | None = None) -> object:
        return self.call("GET", path, timeout=timeout).data

    def pages(self, path: str) -> Iterator[object]:
        """Every item of a paginated listing, page after page."""
        url: str | None = path
        for _ in range(MAX_PAGES):
            answer = self.call("GET", url)
            if not isinstance(answer.data, list):
                raise DriverError(f"{self.name}: GET {path}: expected a list")
            yield from answer.data
            url = self.next_page(answer, self.url(url) if "://" not in url else url)
            if url is None:
                return
        raise DriverError(f"{self.name}: GET {path}: more than {MAX_PAGES} pages")

    def refusal(self, method: str, path: str, exc: urllib.error.HTTPError) -> DriverError:
        try:
            said = _json(exc.read(65536))
        except ValueError:
            said = None
        message = said.get("message") if isinstance(said, dict) else None
        text = f"{self.name}: {method} {path}: {exc.code} {message or exc.reason}"
        if exc.code == 404:
            return NotFound(text)
        if exc.code >= 500 or exc.code == 429:
            return Unreachable(text)
        return DriverError(text)


def _json(raw: bytes) -> object:
    return json.loads(raw) if raw.strip() else None


def link_next(answer: Answer, url: str) -> str | None:
    """The rel="next" of a Link header (GitHub, Gitea)."""
    for part in (answer.headers.get("Link") or "").split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None


def gitlab_next(answer: Answer, url: str) -> str | None:
    """GitLab says the next page's number in X-Next-Page (empty on the last)."""
    page = (answer.headers.get("X-Next-Page") or "").strip()
    if not page.isdigit():
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"] + [("page", page)]
    return urlunsplit(parts._replace(query=urlencode(query)))
