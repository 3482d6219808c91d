"""Configuration of forge connections: the attributes with their
defaults, the triggers, requirements and reporters a pipeline gives a
forge connection as the objects the engine reads, and every mistake one
FILE:LINE line. Real directories and the real loader."""
from __future__ import annotations

import os

import pytest

from gateq.config.loader import load_config
from gateq.config.model import RemoteConnection, Reporter, Requirement, Trigger
from gateq.drivers.forge import schema
from test_config import errors_of, write

SERVER = """\
connections:
  src:
    driver: %(driver)s
    url: https://src.example.org
    token: secrets/token
    webhook-secret: secrets/webhook
"""

GATE = """\
- pipeline:
    name: gate
    manager: dependent
    require:
      src: {label: gate, review: approved, open: true, draft: false}
    trigger:
      src:
        - event: approved
          label: gate
          branch: ^main$
        - event: [opened, comment]
          comment: (?i)^\\s*recheck\\s*$
    start: {src: {status: pending}}
    success: {src: {status: success, merge: true}}
    failure: {src: {status: failure}}
- project: {name: rpms/nova, connection: src, gate: {jobs: [noop]}}
"""

API = {"github": "https://src.example.org/api/v3", "gitea": "https://src.example.org/api/v1",
       "gitlab": "https://src.example.org/api/v4"}


def make(tmp_path, driver: str = "gitea", server: str = SERVER, layout: str = GATE) -> str:
    write(tmp_path, "secrets/token", "t0ken\n")
    write(tmp_path, "secrets/webhook", "s3cret\n")
    write(tmp_path, "gateq.yaml", server % {"driver": driver})
    write(tmp_path, "layouts/main.yaml", layout)
    return str(tmp_path)


@pytest.mark.parametrize("driver", ["gitea", "github", "gitlab"])
def test_a_forge_gate_builds_every_object(tmp_path, driver):
    config = load_config(make(tmp_path, driver))
    src = config.connections["src"]
    assert isinstance(src, RemoteConnection) and src.driver == driver
    assert (src.settings["api-url"], src.settings["git-url"], src.settings["web-url"]) == (
        API[driver], "https://src.example.org", "https://src.example.org")
    assert src.settings["token"] == str(tmp_path / "secrets" / "token")
    page = {"github": "pull/12", "gitea": "pulls/12", "gitlab": "-/merge_requests/12"}[driver]
    assert src.change_url("rpms/nova", "12") == f"https://src.example.org/rpms/nova/{page}"
    gate = config.layout.pipelines["gate"]
    assert gate.triggers == (
        Trigger("src", "approved", ("approved",), "^main$", (("label:gate", 1),)),
        Trigger("src", "opened", ("opened", "comment"), comment=r"(?i)^\s*recheck\s*$"))
    assert gate.requirements == (
        Requirement("src", (("label:gate", 1), ("review:approved", 1)), True, None, False),)
    assert (gate.start, gate.success, gate.failure) == (
        (Reporter("src", (("status", 0),)),),
        (Reporter("src", (("status", 1), ("comment", 1)), merge=True),),
        (Reporter("src", (("status", -1), ("comment", 1))),))


def test_github_com_has_its_own_api_host(tmp_path):
    server = SERVER.replace("https://src.example.org", "https://github.com")
    assert load_config(make(tmp_path, "github", server)).connections["src"].settings["api-url"] \
        == "https://api.github.com"


def test_every_mistake_is_one_line_with_its_place(tmp_path):
    server = """\
connections:
  src:
    driver: gitlab
    url: gitlab.example.org
    token: secrets/missing
    webhook-secret: secrets/webhook
    git-url: ftp://x
"""
    layout = GATE.replace("event: approved", "event: labeled").replace(
        "status: pending", "status: running")
    assert errors_of(make(tmp_path, server=server, layout=layout)) == [
        "gateq.yaml:4: connection 'src': attribute 'url': 'gitlab.example.org' is not a https "
        "or http URL",
        "gateq.yaml:5: connection 'src': attribute 'token': file 'secrets/missing' does not exist",
        "gateq.yaml:7: connection 'src': attribute 'git-url': 'ftp://x' is not a https, http, "
        "file or ssh URL",
        "layouts/main.yaml:8: pipeline 'gate': attribute 'trigger.src.event': expected one of "
        "opened, comment, approved, closed, merged, reopened, draft-changed, got 'labeled'",
        "layouts/main.yaml:13: pipeline 'gate': attribute 'start.src.status': expected one of "
        "failure, pending, success, got 'running'",
    ]


def test_every_attribute_and_event_is_documented():
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "forges.md")) as f:
        docs = f.read()
    attributes = [str(key) for key in schema.fields("/", "gitea") if str(key) != "driver"]
    assert [a for a in attributes if f"| `{a}` |" not in docs] == []
    assert [e for e in schema.EVENTS if f"| `{e}` |" not in docs] == []
