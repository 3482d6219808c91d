"""Configuration of code review: a gerrit connection beside a git one,
Zuul's triggers, requirements and reporters checked by each connection's
driver, circular dependencies on queues; and every mistake one FILE:LINE
line. Real directories, the real loader and `gateq validate`."""
from __future__ import annotations

import os

from config_fixture import make_repository
from gateq.config.loader import load_config
from gateq.config.model import QueueSettings, RemoteConnection, Reporter, Requirement, Trigger
from test_config import errors_of, write

SERVER = """\
connections:
  review:
    driver: gerrit
    server: review.example.org
    user: gateq
    sshkey: id_ed25519
    known-hosts: known_hosts
  distgit: {driver: git, root: repos}
"""

GATE = """\
- pipeline:
    name: gate
    manager: dependent
    require:
      review:
        approval: [{Code-Review: 2}]
        open: true
        current-patchset: true
        wip: false
    trigger:
      review:
        - event: comment-added
          approval: [{Workflow: 1}]
          branch: ^main$
        - event: [comment-added, patchset-created]
          comment: (?i)^\\s*recheck\\s*$
      distgit:
        - event: approved
    start: {review: {Verified: 0}}
    success: {review: {Verified: 2, submit: true}, distgit: {merge: true}}
    failure: {review: {Verified: -2}}
- queue: {name: rdo, allow-circular-dependencies: true}
- project: {name: nova, connection: review, queue: rdo, gate: {jobs: [noop]}}
- project: {name: nova-distgit, connection: distgit, queue: rdo, gate: {jobs: [noop]}}
"""


def make(tmp_path, layout: str = GATE, server: str = SERVER) -> str:
    write(tmp_path, "id_ed25519", "key\n")
    write(tmp_path, "known_hosts", "[review.example.org]:29418 ssh-ed25519 AAAA\n")
    make_repository(str(tmp_path / "repos" / "nova-distgit.git"), ("main",))
    write(tmp_path, "gateq.yaml", server)
    write(tmp_path, "layouts/main.yaml", layout)
    return str(tmp_path)


def test_a_gerrit_gate_builds_every_object(tmp_path):
    config = load_config(make(tmp_path))
    review = config.connections["review"]
    assert isinstance(review, RemoteConnection) and review.driver == "gerrit"
    assert review.mirror == os.path.join(str(tmp_path), "state", "mirrors", "review")
    assert config.repo_path("nova") == os.path.join(review.mirror, "nova.git")
    assert review.change_url("nova", "refs/changes/45/345/2") == \
        "https://review.example.org/c/nova/+/345"
    assert config.connections["distgit"].change_url("nova-distgit", "fix-1") is None
    gate = config.layout.pipelines["gate"]
    assert gate.triggers == (
        Trigger("review", "comment-added", ("comment-added",), "^main$", (("Workflow", 1),)),
        Trigger("review", "comment-added", ("comment-added", "patchset-created"),
                comment=r"(?i)^\s*recheck\s*$"),
        Trigger("distgit", "approved", ("approved",)))
    assert gate.requirements == (Requirement("review", (("Code-Review", 2),), True, True, False),)
    assert (gate.start, gate.success, gate.failure) == (
        (Reporter("review", (("Verified", 0),)),),
        (Reporter("review", (("Verified", 2),), submit=True), Reporter("distgit", merge=True)),
        (Reporter("review", (("Verified", -2),)),))
    assert gate.merge_on_success
    assert config.layout.queue("rdo") == QueueSettings("rdo", allow_circular_dependencies=True)
    assert config.layout.queue("nova") == QueueSettings("nova")       # a project's own queue


def test_a_git_connection_keeps_its_words(tmp_path):
    layout = GATE.replace("  distgit:\n        - event: approved", "  distgit:\n        - event: comment-added")
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:18: pipeline 'gate': attribute 'trigger.distgit.event': expected one "
        "of proposed, approved, got 'comment-added'"]


BAD = """\
- pipeline:
    name: gate
    manager: dependent
    require: {distgit: {open: true}, review: {approval: [{Code-Review: two}], wip: maybe}}
    trigger:
      review:
        - event: ref-updated
          branch: "^(main"
        - comment: recheck
    start: {review: {Verified: 0, submit: true}}
    success: {review: {Bad Label: 1}, distgit: {merge: true, Verified: 1}}
- pipeline:
    name: check
    manager: independent
    success: {review: {submit: true}}
- queue: {name: rdo, allow-circular-dependencies: 1}
"""


def test_each_mistake_is_one_line_at_its_place(tmp_path):
    assert errors_of(make(tmp_path, BAD)) == [
        "layouts/main.yaml:4: pipeline 'gate': attribute 'require.distgit': connection 'distgit' "
        "(git driver) has no review requirements",
        "layouts/main.yaml:4: pipeline 'gate': attribute 'require.review.approval.Code-Review': "
        "expected a vote such as 2 or -1, got 'two'",
        "layouts/main.yaml:4: pipeline 'gate': attribute 'require.review.wip': expected true or "
        "false, got 'maybe'",
        "layouts/main.yaml:7: pipeline 'gate': attribute 'trigger.review.event': expected one of "
        "patchset-created, comment-added, change-merged, change-abandoned, change-restored, "
        "wip-state-changed, got 'ref-updated'",
        "layouts/main.yaml:8: pipeline 'gate': attribute 'trigger.review.branch': not a valid "
        "regular expression: missing ), unterminated subpattern at position 1",
        "layouts/main.yaml:9: pipeline 'gate': missing required attribute 'trigger.review.event'",
        "layouts/main.yaml:11: pipeline 'gate': attribute 'success.review.Bad Label': not a valid "
        "label name: 'Bad Label'",
        "layouts/main.yaml:11: pipeline 'gate': unknown attribute 'success.distgit.Verified'",
        "layouts/main.yaml:15: pipeline 'check': attribute 'success': submit needs manager "
        "'dependent'",
        "layouts/main.yaml:16: queue 'rdo': attribute 'allow-circular-dependencies': expected "
        "true or false, got 1",
    ]


def test_landing_is_only_on_success(tmp_path):
    layout = GATE.replace("start: {review: {Verified: 0}}", "start: {review: {submit: true}}")
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:19: pipeline 'gate': attribute 'start.review': submit is only for "
        "success: (it lands the change)"]


def test_gerrit_projects_need_no_repository_yet_git_ones_do(tmp_path):
    layout = GATE + "- project: {name: glance, connection: distgit, gate: {jobs: [noop]}}\n"
    [error] = errors_of(make(tmp_path, layout))
    assert error.startswith("layouts/main.yaml:25: project 'glance': no git repository in "
                            "connection 'distgit'")
