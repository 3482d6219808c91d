"""GitHub's REST API (v3) and webhooks, as the forge connection needs them.

Pull requests are /repos/OWNER/REPO/pulls/N, their heads at refs/pull/N/head
in the base repository; statuses go to /statuses/SHA, comments to the
pull request's issue. Webhooks: X-GitHub-Event, X-GitHub-Delivery, and
X-Hub-Signature-256.
"""
from __future__ import annotations

import base64
from typing import Mapping
from urllib.parse import quote, urlsplit

from ..forge import hookevents as he
from ..forge.dialect import Call, Dialect, Hook, field, optional
from ..forge.pulls import PullRequest, approved_by_reviews
from ..forge.signature import Scheme
from ..records import ChangeState, ReviewEvent, ReviewEventKind

K = ReviewEventKind
OPENED = {"opened": K.PROPOSED, "synchronize": K.PROPOSED, "reopened": K.RESTORED}
DRAFT = {"converted_to_draft": True, "ready_for_review": False}


class GitHubDialect(Dialect):
    driver = "github"
    scheme = Scheme.HUB_SHA256
    event_headers = ("X-GitHub-Event",)
    delivery_headers = ("X-GitHub-Delivery",)

    def api_url(self, url: str) -> str:
        host = urlsplit(url).netloc.lower()
        return "https://api.github.com" if host == "github.com" else url.rstrip("/") + "/api/v3"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28"}

    def git_auth(self, token: str) -> str:
        return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    def head_ref(self, number: int) -> str:
        return f"refs/pull/{number}/head"

    def pull_url(self, web_url: str, project: str, number: int) -> str:
        return f"{web_url.rstrip('/')}/{project}/pull/{number}"

    def pull_path(self, project: str, number: int) -> str:
        return f"repos/{self.path_of(project)}/pulls/{number}"

    def open_pulls_path(self, project: str) -> str:
        return f"repos/{self.path_of(project)}/pulls?state=open&per_page=100"

    def pull(self, project: str, data: Mapping, web_url: str) -> PullRequest:
        number = field(data, "number", kind=int)
        state = ChangeState.OPEN if field(data, "state", kind=str) == "open" else (
            ChangeState.MERGED if optional(data, "merged") or optional(data, "merged_at")
            else ChangeState.ABANDONED)
        return PullRequest(project, number, field(data, "base", "ref", kind=str),
                           field(data, "head", "sha", kind=str), self.head_ref(number), state,
                           optional(data, "html_url") or self.pull_url(web_url, project, number),
                           bool(optional(data, "draft")), labels(data),
                           optional(data, "title") or "", optional(data, "body") or "")

    def reviews_path(self, project: str, number: int) -> str:
        return f"repos/{self.path_of(project)}/pulls/{number}/reviews?per_page=100"

    def approved(self, answer: object) -> bool:
        return approved_by_reviews((optional(r, "user", "login") or "?", optional(r, "state") or "")
                                   for r in answer if isinstance(r, Mapping))

    def branch_path(self, project: str, branch: str) -> str:
        return f"repos/{self.path_of(project)}/branches/{quote(branch, safe='')}"

    def branch_commit(self, data: Mapping) -> str | None:
        return optional(data, "commit", "sha")

    def status_call(self, project, sha, state, context, description, target_url) -> Call:
        body = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            body["target_url"] = target_url
        return Call("POST", f"repos/{self.path_of(project)}/statuses/{sha}", body)

    def comment_call(self, project: str, number: int, body: str) -> Call:
        return Call("POST", f"repos/{self.path_of(project)}/issues/{number}/comments",
                    {"body": body})

    def comments_path(self, project: str, number: int) -> str:
        return f"repos/{self.path_of(project)}/issues/{number}/comments?per_page=100"

    def comment_text(self, data: Mapping) -> str:
        return optional(data, "body") or ""

    def events(self, connection: str, hook: Hook, payload: Mapping, web_url: str
               ) -> list[ReviewEvent]:
        if hook.event not in ("pull_request", "pull_request_review", "issue_comment"):
            return []                   # ping, push...: nothing for gateq
        project = field(payload, "repository", "full_name", kind=str)
        actor = optional(payload, "sender", "login")
        action = optional(payload, "action")
        if hook.event == "pull_request":
            pull = self.pull(project, field(payload, "pull_request", kind=Mapping), web_url)
            if action in OPENED:
                return [he.of_pull(connection, OPENED[action], pull, actor)]
            if action == "closed":
                return [he.closed(connection, pull, actor)]
            if action in ("labeled", "unlabeled"):
                name = field(payload, "label", "name", kind=str)
                return he.labels_changed(connection, pull, [name] if action == "labeled" else [],
                                         [name] if action == "unlabeled" else [], actor)
            if action in DRAFT:
                return [he.of_pull(connection, K.WIP_CHANGED, pull, actor)]
            return []
        if hook.event == "pull_request_review" and action == "submitted":
            pull = self.pull(project, field(payload, "pull_request", kind=Mapping), web_url)
            text = optional(payload, "review", "body")
            if str(optional(payload, "review", "state")).lower() == "approved":
                return [he.review_approved(connection, pull, actor, text)]
            return [he.of_pull(connection, K.COMMENT, pull, actor, comment=text)] if text else []
        if hook.event == "issue_comment" and action == "created" and \
                optional(payload, "issue", "pull_request") is not None:
            number = field(payload, "issue", "number", kind=int)
            return [he.commented(connection, project, number, self.head_ref(number),
                                 field(payload, "comment", "body", kind=str), actor,
                                 self.pull_url(web_url, project, number))]
        return []


def labels(data: Mapping) -> tuple[str, ...]:
    found = optional(data, "labels") or []
    return tuple(label["name"] for label in found
                 if isinstance(label, Mapping) and isinstance(label.get("name"), str))
