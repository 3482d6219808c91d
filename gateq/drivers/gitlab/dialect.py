"""GitLab's API (/api/v4) and webhooks, as the forge connection needs them.

A project is its full path (group/sub/name), URL-encoded whole in API
paths; merge requests are by their iid, their heads at
refs/merge-requests/N/head. Pages follow X-Next-Page. Webhooks carry the
shared secret in X-Gitlab-Token and their id in Idempotency-Key (or, from
older GitLabs, X-Gitlab-Event-UUID); a Merge Request Hook's `update` may say a new head
(`oldrev`), labels changed and a draft changed all at once.
"""
from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from ..forge import hookevents as he
from ..forge.dialect import Call, Dialect, Hook, field, optional
from ..forge.pulls import APPROVED, PullRequest
from ..forge.rest import gitlab_next
from ..forge.signature import Scheme
from ..records import ChangeState, ReviewEvent, ReviewEventKind, Vote

K = ReviewEventKind
STATES = {"opened": ChangeState.OPEN, "merged": ChangeState.MERGED,
          "closed": ChangeState.ABANDONED, "locked": ChangeState.OPEN}
STATUS_WORDS = {"pending": "pending", "success": "success", "failure": "failed"}


class GitLabDialect(Dialect):
    driver = "gitlab"
    scheme = Scheme.GITLAB_TOKEN
    event_headers = ("X-Gitlab-Event",)
    # Idempotency-Key stays the same when GitLab retries a delivery; older
    # GitLabs send only the event's X-Gitlab-Event-UUID.
    delivery_headers = ("Idempotency-Key", "X-Gitlab-Event-UUID")
    reviews_paged = False                       # /approvals is one object
    next_page = staticmethod(gitlab_next)

    @staticmethod
    def project_id(project: str) -> str:
        return quote(project, safe="")

    def api_url(self, url: str) -> str:
        return url.rstrip("/") + "/api/v4"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def head_ref(self, number: int) -> str:
        return f"refs/merge-requests/{number}/head"

    def pull_url(self, web_url: str, project: str, number: int) -> str:
        return f"{web_url.rstrip('/')}/{project}/-/merge_requests/{number}"

    def pull_path(self, project: str, number: int) -> str:
        return f"projects/{self.project_id(project)}/merge_requests/{number}"

    def open_pulls_path(self, project: str) -> str:
        return f"projects/{self.project_id(project)}/merge_requests?state=opened&per_page=100"

    def pull(self, project: str, data: Mapping, web_url: str) -> PullRequest:
        number = field(data, "iid", kind=int)
        head = optional(data, "sha") or field(data, "last_commit", "id", kind=str)
        state = STATES.get(field(data, "state", kind=str), ChangeState.UNKNOWN)
        draft = bool(optional(data, "draft") or optional(data, "work_in_progress"))
        return PullRequest(project, number, field(data, "target_branch", kind=str), head,
                           self.head_ref(number), state,
                           optional(data, "web_url") or optional(data, "url")
                           or self.pull_url(web_url, project, number),
                           draft, label_names(optional(data, "labels") or []),
                           optional(data, "title") or "", optional(data, "description") or "")

    def reviews_path(self, project: str, number: int) -> str:
        return f"{self.pull_path(project, number)}/approvals"

    def approved(self, answer: object) -> bool:
        """Someone approved (GitLab's `approved` is also true when no approval is required)."""
        return bool(optional(answer, "approved_by"))

    def branch_path(self, project: str, branch: str) -> str:
        return f"projects/{self.project_id(project)}/repository/branches/{quote(branch, safe='')}"

    def branch_commit(self, data: Mapping) -> str | None:
        return optional(data, "commit", "id")

    def status_call(self, project, sha, state, context, description, target_url) -> Call:
        body = {"state": STATUS_WORDS[state], "name": context, "description": description[:255]}
        if target_url:
            body["target_url"] = target_url
        return Call("POST", f"projects/{self.project_id(project)}/statuses/{sha}", body)

    def comment_call(self, project: str, number: int, body: str) -> Call:
        return Call("POST", f"{self.pull_path(project, number)}/notes", {"body": body})

    def comments_path(self, project: str, number: int) -> str:
        return f"{self.pull_path(project, number)}/notes?per_page=100"

    def comment_text(self, data: Mapping) -> str:
        return optional(data, "body") or ""

    def events(self, connection: str, hook: Hook, payload: Mapping, web_url: str
               ) -> list[ReviewEvent]:
        if hook.event not in ("Merge Request Hook", "Note Hook"):
            return []                   # Push Hook, Pipeline Hook...: nothing for gateq
        project = field(payload, "project", "path_with_namespace", kind=str)
        actor = optional(payload, "user", "username")
        if hook.event == "Merge Request Hook":
            attrs = dict(field(payload, "object_attributes", kind=Mapping))
            attrs.setdefault("labels", optional(payload, "labels") or [])
            return self.merge_request(connection, project, attrs, payload, actor, web_url)
        if hook.event == "Note Hook" and \
                optional(payload, "object_attributes", "noteable_type") == "MergeRequest":
            number = field(payload, "merge_request", "iid", kind=int)
            return [he.commented(connection, project, number, self.head_ref(number),
                                 field(payload, "object_attributes", "note", kind=str), actor,
                                 self.pull_url(web_url, project, number))]
        return []

    def merge_request(self, connection, project, attrs, payload, actor, web_url):
        pull = self.pull(project, attrs, web_url)
        action = attrs.get("action")
        if action == "open":
            return [he.of_pull(connection, K.PROPOSED, pull, actor)]
        if action == "reopen":
            return [he.of_pull(connection, K.RESTORED, pull, actor)]
        if action in ("close", "merge"):
            return [he.closed(connection, pull, actor)]
        if action == "approved":
            return [he.review_approved(connection, pull, actor)]
        if action == "unapproved":
            return [he.of_pull(connection, K.COMMENT, pull, actor,
                               (Vote(APPROVED, 0, 1, actor),))]
        if action != "update":
            return []
        events = [he.of_pull(connection, K.PROPOSED, pull, actor)] if attrs.get("oldrev") else []
        changes = optional(payload, "changes") or {}
        before = set(label_names(optional(changes, "labels", "previous") or []))
        after = set(label_names(optional(changes, "labels", "current") or []))
        events += he.labels_changed(connection, pull, sorted(after - before),
                                    sorted(before - after), actor)
        if "draft" in changes or "work_in_progress" in changes:
            events.append(he.of_pull(connection, K.WIP_CHANGED, pull, actor))
        return events


def label_names(found: list) -> tuple[str, ...]:
    """The API lists names; webhooks list {title: ...}."""
    names = []
    for label in found:
        name = label if isinstance(label, str) else (
            label.get("title") or label.get("name") if isinstance(label, Mapping) else None)
        if isinstance(name, str):
            names.append(name)
    return tuple(names)
