"""Gitea's and Forgejo's API (/api/v1) and webhooks.

Their pull request JSON follows GitHub's (number, state, merged, head.sha,
base.ref, labels), so this dialect is GitHub's with Gitea's paths, token
header, branch shape and events: X-Gitea-Event (X-Forgejo-Event),
X-Gitea-Delivery, and the bare-hex X-Gitea-Signature / X-Forgejo-Signature.
A label_updated delivery gives the labels the pull request has now, not
which one changed: each is told as put on (a trigger naming a label fires
while it is there); a label taken off is seen by the requirement check.
"""
from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from ..forge import hookevents as he
from ..forge.dialect import Hook, field, optional
from ..forge.signature import Scheme
from ..github.dialect import DRAFT, GitHubDialect, labels
from ..records import ReviewEvent, ReviewEventKind

K = ReviewEventKind
OPENED = {"opened": K.PROPOSED, "synchronized": K.PROPOSED, "reopened": K.RESTORED}
PULL_EVENTS = ("pull_request", "pull_request_sync", "pull_request_label")
REVIEW_EVENTS = ("pull_request_approved", "pull_request_review_approved",
                 "pull_request_rejected", "pull_request_review_rejected",
                 "pull_request_review_comment")


class GiteaDialect(GitHubDialect):
    driver = "gitea"
    scheme = Scheme.GITEA
    event_headers = ("X-Gitea-Event", "X-Forgejo-Event")
    delivery_headers = ("X-Gitea-Delivery", "X-Forgejo-Delivery")

    def api_url(self, url: str) -> str:
        return url.rstrip("/") + "/api/v1"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    def pull_url(self, web_url: str, project: str, number: int) -> str:
        return f"{web_url.rstrip('/')}/{project}/pulls/{number}"

    def open_pulls_path(self, project: str) -> str:
        return f"repos/{self.path_of(project)}/pulls?state=open&limit=50"

    def reviews_path(self, project: str, number: int) -> str:
        return f"repos/{self.path_of(project)}/pulls/{number}/reviews?limit=50"

    def approved(self, answer: object) -> bool:
        reviews = [r for r in answer if isinstance(r, Mapping) and not optional(r, "dismissed")
                   and not optional(r, "stale")]
        return super().approved(reviews)

    def branch_path(self, project: str, branch: str) -> str:
        return f"repos/{self.path_of(project)}/branches/{quote(branch, safe='')}"

    def branch_commit(self, data: Mapping) -> str | None:
        return optional(data, "commit", "id")

    def comments_path(self, project: str, number: int) -> str:
        return f"repos/{self.path_of(project)}/issues/{number}/comments"

    def events(self, connection: str, hook: Hook, payload: Mapping, web_url: str
               ) -> list[ReviewEvent]:
        if hook.event not in PULL_EVENTS + REVIEW_EVENTS + ("issue_comment",):
            return []                   # push, create, repository...: nothing for gateq
        project = field(payload, "repository", "full_name", kind=str)
        actor = optional(payload, "sender", "login")
        action = optional(payload, "action")
        if hook.event in PULL_EVENTS or hook.event in REVIEW_EVENTS:
            pull = self.pull(project, field(payload, "pull_request", kind=Mapping), web_url)
            if hook.event in REVIEW_EVENTS:
                text = optional(payload, "review", "content") or None
                if "approved" in hook.event:
                    return [he.review_approved(connection, pull, actor, text)]
                return [he.of_pull(connection, K.COMMENT, pull, actor, comment=text)] \
                    if text else []
            if action in OPENED:
                return [he.of_pull(connection, OPENED[action], pull, actor)]
            if action == "closed":
                return [he.closed(connection, pull, actor)]
            if action == "label_updated":
                return he.labels_changed(connection, pull, list(labels(payload["pull_request"])),
                                         [], actor)
            if action in DRAFT:
                return [he.of_pull(connection, K.WIP_CHANGED, pull, actor)]
            return []
        if hook.event == "issue_comment" and action == "created" and \
                (optional(payload, "is_pull") or optional(payload, "issue", "pull_request")):
            number = field(payload, "issue", "number", kind=int)
            return [he.commented(connection, project, number, self.head_ref(number),
                                 field(payload, "comment", "body", kind=str), actor,
                                 self.pull_url(web_url, project, number))]
        return []
