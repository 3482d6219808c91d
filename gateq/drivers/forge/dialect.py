"""What one forge says differently from the others: its API's paths and
JSON shapes, its webhook headers and events, its commit-status words. A
Dialect is pure (no I/O): the connection does the calls with what it says.
"""
from __future__ import annotations

import abc
import base64
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping
from urllib.parse import quote

from ..records import ReviewEvent
from .pulls import PullRequest
from .rest import Answer, link_next
from .signature import Scheme


HEAD_REF = re.compile(r"refs/(?:pull|merge-requests)/(?P<number>[1-9]\d*)/head\Z")


class StatusState:
    """A commit status as gateq says it; each dialect has its word for each."""
    PENDING, SUCCESS, FAILURE = "pending", "success", "failure"


@dataclass(frozen=True)
class Call:
    """One REST call: method, path under the API root, JSON body."""
    method: str
    path: str
    body: object = None


@dataclass(frozen=True)
class Hook:
    """A webhook delivery as the dialect reads its headers."""
    event: str | None               # the forge's event name (X-GitHub-Event...)
    delivery: str | None            # its id, for dedup


class Dialect(abc.ABC):
    driver: ClassVar[str]
    scheme: ClassVar[Scheme]
    event_headers: ClassVar[tuple[str, ...]]
    delivery_headers: ClassVar[tuple[str, ...]]
    reviews_paged: ClassVar[bool] = True       # the reviews answer is a paginated list
    next_page: ClassVar[Callable[[Answer, str], str | None]] = staticmethod(link_next)

    def hook(self, headers: Mapping[str, str]) -> Hook:
        return Hook(first(headers, self.event_headers), first(headers, self.delivery_headers))

    @staticmethod
    def path_of(project: str) -> str:
        return quote(project, safe="/")

    @abc.abstractmethod
    def api_url(self, url: str) -> str:
        """The API root of the forge at web address `url`."""

    @abc.abstractmethod
    def auth_headers(self, token: str) -> dict[str, str]: ...

    def git_auth(self, token: str) -> str:
        """The Authorization header git sends over HTTPS."""
        return "Basic " + base64.b64encode(f"oauth2:{token}".encode()).decode()

    @abc.abstractmethod
    def head_ref(self, number: int) -> str: ...

    def number_of(self, ref: str | None) -> int | None:
        """The pull request whose head `ref` is (None: not such a ref)."""
        match = HEAD_REF.match(ref or "")
        if match is None or self.head_ref(int(match["number"])) != ref:
            return None
        return int(match["number"])

    @abc.abstractmethod
    def pull_url(self, web_url: str, project: str, number: int) -> str: ...

    @abc.abstractmethod
    def pull_path(self, project: str, number: int) -> str: ...

    @abc.abstractmethod
    def open_pulls_path(self, project: str) -> str: ...

    @abc.abstractmethod
    def pull(self, project: str, data: Mapping, web_url: str) -> PullRequest:
        """The pull request of the API's (or a webhook's) JSON."""

    @abc.abstractmethod
    def reviews_path(self, project: str, number: int) -> str: ...

    @abc.abstractmethod
    def approved(self, answer: object) -> bool:
        """Whether the reviews answer says the pull request is approved."""

    @abc.abstractmethod
    def branch_path(self, project: str, branch: str) -> str: ...

    @abc.abstractmethod
    def branch_commit(self, data: Mapping) -> str | None: ...

    @abc.abstractmethod
    def status_call(self, project: str, sha: str, state: str, context: str,
                    description: str, target_url: str | None) -> Call: ...

    @abc.abstractmethod
    def comment_call(self, project: str, number: int, body: str) -> Call: ...

    @abc.abstractmethod
    def comments_path(self, project: str, number: int) -> str: ...

    @abc.abstractmethod
    def comment_text(self, data: Mapping) -> str: ...

    @abc.abstractmethod
    def events(self, connection: str, hook: Hook, payload: Mapping, web_url: str
               ) -> list[ReviewEvent]:
        """The review events a webhook payload tells (none: nothing for gateq).
        Raises ValueError (one line) for a payload of the wrong shape."""


KINDS = {int: "an integer", str: "a string", Mapping: "an object", list: "a list"}


def first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The first of `names` the delivery has (Gitea's, then Forgejo's)."""
    return next((headers[n] for n in names if headers.get(n)), None)


def field(data: object, *path: str, kind: type = object):
    """data[path...], checked to be of `kind` (ValueError naming the path otherwise)."""
    value = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(f"payload has no {'.'.join(path)}")
        value = value[key]
    if kind is not object and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(f"payload {'.'.join(path)} is not {KINDS.get(kind, kind.__name__)}")
    return value


def optional(data: object, *path: str, default=None):
    try:
        return field(data, *path)
    except ValueError:
        return default
