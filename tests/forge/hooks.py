"""Webhook deliveries as each forge sends them: its headers, its payload
shapes, and its signature, computed here with hmac directly (not with
gateq's code, which the tests check against these)."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from .standin import ForgeStandIn

SECRET = "webhook-secret-4f2a"


def signature_headers(flavour: str, secret: str, body: bytes) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if flavour == "github":
        return {"X-Hub-Signature-256": "sha256=" + digest}
    if flavour == "gitea":
        return {"X-Gitea-Signature": digest}
    if flavour == "forgejo":
        return {"X-Forgejo-Signature": digest}
    return {"X-Gitlab-Token": secret}


def headers_for(flavour: str, event: str, delivery: str) -> dict:
    return {"github": {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery},
            "gitea": {"X-Gitea-Event": event, "X-Gitea-Delivery": delivery},
            "forgejo": {"X-Forgejo-Event": event, "X-Forgejo-Delivery": delivery},
            "gitlab": {"X-Gitlab-Event": event, "Idempotency-Key": delivery,   # kept on retries
                       "X-Gitlab-Event-UUID": str(uuid.uuid4())}}[flavour]


def delivery(flavour: str, event: str, payload: dict, secret: str = SECRET,
             delivery_id: str | None = None) -> tuple[bytes, dict]:
    """(raw body, headers) of one delivery."""
    body = json.dumps(payload, indent=2).encode()          # forges pretty-print; bytes as sent
    headers = {"Content-Type": "application/json",
               **headers_for(flavour, event, delivery_id or str(uuid.uuid4())),
               **signature_headers(flavour, secret, body)}
    return body, headers


def pull_hook(forge: ForgeStandIn, project: str, number: int, action: str,
              label: str | None = None, removed: str | None = None) -> tuple[str, dict]:
    """(event name, payload) of a pull request opened, updated or labeled."""
    pull = forge.pull_json(project, number)
    if forge.flavour == "gitlab":
        attrs = {**pull, "action": {"opened": "open", "synchronize": "update",
                                    "labeled": "update", "unlabeled": "update"}[action],
                 "last_commit": {"id": pull["sha"]}, "url": pull["web_url"]}
        payload = {"object_kind": "merge_request", "user": {"username": "alice"},
                   "project": {"path_with_namespace": project},
                   "object_attributes": attrs, "labels": [{"title": n} for n in pull["labels"]]}
        if action == "synchronize":
            attrs["oldrev"] = "0" * 40
        if action in ("labeled", "unlabeled"):
            now = [n for n in pull["labels"]]
            before = [n for n in now if n != label] + ([removed] if removed else [])
            payload["changes"] = {"labels": {"previous": [{"title": n} for n in before],
                                             "current": [{"title": n} for n in now]}}
        return "Merge Request Hook", payload
    payload = {"action": action, "number": number, "pull_request": pull,
               "repository": {"full_name": project}, "sender": {"login": "alice"}}
    if forge.flavour == "gitea":
        payload["action"] = {"synchronize": "synchronized", "labeled": "label_updated"}.get(
            action, action)
        return ("pull_request_label" if action == "labeled" else "pull_request"), payload
    if label:
        payload["label"] = {"name": label}
    return "pull_request", payload


def comment_hook(forge: ForgeStandIn, project: str, number: int, text: str) -> tuple[str, dict]:
    if forge.flavour == "gitlab":
        return "Note Hook", {"object_kind": "note", "user": {"username": "bob"},
                             "project": {"path_with_namespace": project},
                             "object_attributes": {"note": text, "noteable_type": "MergeRequest"},
                             "merge_request": {"iid": number}}
    payload = {"action": "created", "issue": {"number": number, "pull_request": {}},
               "comment": {"body": text}, "repository": {"full_name": project},
               "sender": {"login": "bob"}}
    if forge.flavour == "gitea":
        payload["is_pull"] = True
    return "issue_comment", payload


def approval_hook(forge: ForgeStandIn, project: str, number: int) -> tuple[str, dict]:
    pull = forge.pull_json(project, number)
    if forge.flavour == "gitlab":
        return "Merge Request Hook", {
            "object_kind": "merge_request", "user": {"username": "carol"},
            "project": {"path_with_namespace": project},
            "object_attributes": {**pull, "action": "approved", "last_commit": {"id": pull["sha"]}}}
    base = {"pull_request": pull, "repository": {"full_name": project}, "sender": {"login": "carol"}}
    if forge.flavour == "gitea":
        return "pull_request_approved", {**base, "action": "reviewed",
                                         "review": {"type": "pull_request_review_approved",
                                                    "content": "LGTM"}}
    return "pull_request_review", {**base, "action": "submitted",
                                   "review": {"state": "approved", "body": "LGTM"}}
