"""What each forge's webhook payloads become (pure: the dialects alone):
the event names a trigger lists, the votes labels and reviews stand for,
and payloads of the wrong shape refused with one line."""
from __future__ import annotations

import pytest

from gateq.drivers.forge.dialect import Hook
from gateq.drivers.gitea.dialect import GiteaDialect
from gateq.drivers.github.dialect import GitHubDialect
from gateq.drivers.gitlab.dialect import GitLabDialect
from gateq.drivers.records import ChangeState, ReviewEventKind, Vote

K = ReviewEventKind
WEB = "https://forge.example.org"
HEAD = "c0ffee" + "0" * 34


def hub_pull(state="open", merged=False, labels=(), draft=False) -> dict:
    return {"number": 5, "state": state, "merged": merged, "draft": draft, "title": "Fix",
            "body": "", "head": {"sha": HEAD}, "base": {"ref": "main"},
            "labels": [{"name": n} for n in labels]}


def hub(dialect, event: str, action: str | None, **extra) -> list:
    payload = {"action": action, "repository": {"full_name": "o/r"}, "sender": {"login": "al"},
               "pull_request": extra.pop("pull", hub_pull()), **extra}
    return dialect.events("src", Hook(event, "d"), payload, WEB)


def kinds(events) -> list:
    return [(e.kind, e.state, e.wip) for e in events]


@pytest.mark.parametrize("dialect, opened, synced", [
    (GitHubDialect(), "opened", "synchronize"), (GiteaDialect(), "opened", "synchronized")])
def test_github_and_gitea_pull_request_actions(dialect, opened, synced):
    assert kinds(hub(dialect, "pull_request", opened)) == [(K.PROPOSED, ChangeState.OPEN, False)]
    assert kinds(hub(dialect, "pull_request", synced)) == [(K.PROPOSED, ChangeState.OPEN, False)]
    assert kinds(hub(dialect, "pull_request", "reopened"))[0][0] is K.RESTORED
    assert kinds(hub(dialect, "pull_request", "closed", pull=hub_pull("closed"))) == [
        (K.ABANDONED, ChangeState.ABANDONED, False)]
    assert kinds(hub(dialect, "pull_request", "closed", pull=hub_pull("closed", True))) == [
        (K.MERGED, ChangeState.MERGED, False)]
    assert kinds(hub(dialect, "pull_request", "converted_to_draft", pull=hub_pull(draft=True))) \
        == [(K.WIP_CHANGED, ChangeState.OPEN, True)]
    assert hub(dialect, "pull_request", "edited") == []
    [event] = hub(dialect, "pull_request", opened)
    assert (event.project, event.branch, event.change.ref, event.change.revision,
            event.change.number) == ("o/r", "main", "refs/pull/5/head", HEAD, 5)


def test_github_labels_put_on_and_taken_off():
    [on] = hub(GitHubDialect(), "pull_request", "labeled", label={"name": "gate"})
    [off] = hub(GitHubDialect(), "pull_request", "unlabeled", label={"name": "gate"})
    assert (on.kind, on.approvals) == (K.APPROVED, (Vote("label:gate", 1, 0, "al"),))
    assert (off.kind, off.approvals) == (K.COMMENT, (Vote("label:gate", 0, 1, "al"),))


def test_gitea_says_the_labels_a_pull_request_has_now():
    [event] = hub(GiteaDialect(), "pull_request_label", "label_updated",
                  pull=hub_pull(labels=("gate", "rpm")))
    assert event.approvals == (Vote("label:gate", 1, 0, "al"), Vote("label:rpm", 1, 0, "al"))


def test_reviews_and_comments():
    [approved] = hub(GitHubDialect(), "pull_request_review", "submitted",
                     review={"state": "approved", "body": "LGTM"})
    assert (approved.kind, approved.approvals, approved.comment) == (
        K.APPROVED, (Vote("review:approved", 1, 0, "al"),), "LGTM")
    [asked] = hub(GitHubDialect(), "pull_request_review", "submitted",
                  review={"state": "changes_requested", "body": "please fix"})
    assert (asked.kind, asked.approvals, asked.comment) == (K.COMMENT, (), "please fix")
    [gitea] = hub(GiteaDialect(), "pull_request_approved", "reviewed",
                  review={"type": "pull_request_review_approved", "content": ""})
    assert gitea.kind is K.APPROVED
    comment = {"action": "created", "repository": {"full_name": "o/r"}, "comment": {"body": "recheck"},
               "issue": {"number": 5, "pull_request": {}}}
    [said] = GitHubDialect().events("src", Hook("issue_comment", "d"), comment, WEB)
    assert (said.kind, said.comment, said.change.number, said.change.revision) == (
        K.COMMENT, "recheck", 5, None)
    plain_issue = {**comment, "issue": {"number": 6}}
    assert GitHubDialect().events("src", Hook("issue_comment", "d"), plain_issue, WEB) == []


def lab(action: str, **extra) -> list:
    attrs = {"iid": 7, "action": action, "state": extra.pop("state", "opened"),
             "target_branch": "main", "last_commit": {"id": HEAD}, "title": "Fix",
             "url": f"{WEB}/g/p/-/merge_requests/7", **extra.pop("attrs", {})}
    payload = {"object_kind": "merge_request", "user": {"username": "al"},
               "project": {"path_with_namespace": "g/sub/p"}, "object_attributes": attrs, **extra}
    return GitLabDialect().events("src", Hook("Merge Request Hook", "d"), payload, WEB)


def test_gitlab_merge_request_actions():
    assert kinds(lab("open")) == [(K.PROPOSED, ChangeState.OPEN, False)]
    assert kinds(lab("update")) == []                    # a title edited: nothing new
    assert kinds(lab("close", state="closed")) == [(K.ABANDONED, ChangeState.ABANDONED, False)]
    assert kinds(lab("merge", state="merged")) == [(K.MERGED, ChangeState.MERGED, False)]
    [approved] = lab("approved")
    [taken_back] = lab("unapproved")
    assert approved.approvals == (Vote("review:approved", 1, 0, "al"),)
    assert taken_back.approvals == (Vote("review:approved", 0, 1, "al"),)
    [event] = lab("open")
    assert (event.project, event.change.ref, event.change.number) == (
        "g/sub/p", "refs/merge-requests/7/head", 7)


def test_gitlab_one_update_can_say_several_things():
    changes = {"labels": {"previous": [{"title": "wip"}], "current": [{"title": "gate"}]},
               "draft": {"previous": True, "current": False}}
    events = lab("update", attrs={"oldrev": "1" * 40}, changes=changes)
    assert [(e.kind, e.approvals) for e in events] == [
        (K.PROPOSED, ()), (K.APPROVED, (Vote("label:gate", 1, 0, "al"),)),
        (K.COMMENT, (Vote("label:wip", 0, 1, "al"),)), (K.WIP_CHANGED, ())]


@pytest.mark.parametrize("dialect, event, payload, message", [
    (GitHubDialect(), "pull_request", {"action": "opened"}, "payload has no repository.full_name"),
    (GitHubDialect(), "pull_request", {"action": "opened", "repository": {"full_name": "o/r"},
                                       "pull_request": {"number": "5"}}, "number is not an integer"),
    (GiteaDialect(), "pull_request", {"repository": {"full_name": 3}}, "full_name is not a string"),
    (GitLabDialect(), "Merge Request Hook", {"project": {"path_with_namespace": "g/p"},
                                             "object_attributes": []}, "object_attributes"),
])
def test_payloads_of_the_wrong_shape_are_one_line_errors(dialect, event, payload, message):
    with pytest.raises(ValueError, match=message):
        dialect.events("src", Hook(event, "d"), payload, WEB)
