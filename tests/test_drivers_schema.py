"""Connection schemas as gateq.yaml will use them (through the registry):
the gerrit connection's defaults, derived defaults, and one error per
problem with the path the loader turns into FILE:LINE."""
from __future__ import annotations

import pytest
from voluptuous import MultipleInvalid, Schema

from gateq.config.schema import describe, plain_path
from gateq.config.values import name, named
from gateq.drivers.gerrit.schema import LandMode
from gateq.drivers.registry import connection_schema


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "id_ed25519").write_text("key\n")
    (tmp_path / "known_hosts").write_text("[review.example.org]:29418 ssh-ed25519 AAAA\n")
    return tmp_path


def connections(config_dir):
    """The `connections:` validator, as schema.server_schema builds it."""
    return Schema(named(name("connection"), connection_schema(str(config_dir))))


def errors(config_dir, value) -> list[tuple[list, str]]:
    with pytest.raises(MultipleInvalid) as exc:
        connections(config_dir)(value)
    return sorted((plain_path(e), describe(e, plain_path(e)[1:])) for e in exc.value.errors)


def test_a_gerrit_connection_gets_every_default(config_dir):
    found = connections(config_dir)({"review": {
        "driver": "gerrit", "server": "review.example.org", "user": "gateq",
        "sshkey": "id_ed25519", "known-hosts": "known_hosts"}})["review"]
    assert found == {"driver": "gerrit", "server": "review.example.org", "port": 29418,
                     "user": "gateq", "sshkey": str(config_dir / "id_ed25519"),
                     "known-hosts": str(config_dir / "known_hosts"),
                     "git-url": "ssh://gateq@review.example.org:29418",
                     "web-url": "https://review.example.org", "land": LandMode.PUSH,
                     "reconcile-interval": 300, "mirror": None, "connect-timeout": 10,
                     "command-timeout": 30, "keepalive": 15, "report-timeout": 30,
                     "report-retry": 2, "reconnect-max": 60}


def test_explicit_values_are_kept(config_dir):
    found = connections(config_dir)({"review": {
        "driver": "gerrit", "server": "10.0.0.5", "port": 2222, "user": "zuul",
        "sshkey": "id_ed25519", "known-hosts": "known_hosts",
        "git-url": "ssh://zuul@git.example.org:2222/", "web-url": "https://r.example.org/gerrit/",
        "land": "submit", "reconcile-interval": 60, "mirror": "mirrors"}})["review"]
    assert (found["git-url"], found["web-url"], found["land"], found["mirror"]) == (
        "ssh://zuul@git.example.org:2222", "https://r.example.org/gerrit", LandMode.SUBMIT,
        str(config_dir / "mirrors"))


def test_each_problem_is_one_error_at_its_attribute(config_dir):
    found = errors(config_dir, {"review": {
        "driver": "gerrit", "server": "bad host", "port": 70000, "user": "gateq",
        "sshkey": "missing", "land": "merge", "reconcile-interval": 0, "colour": "red"}})
    assert found == [
        (["review", "colour"], "unknown attribute 'colour'"),
        (["review", "known-hosts"], "missing required attribute 'known-hosts'"),
        (["review", "land"], "attribute 'land': expected one of push, submit, got 'merge'"),
        (["review", "port"], "attribute 'port': expected a port number (1 to 65535), got 70000"),
        (["review", "reconcile-interval"],
         "attribute 'reconcile-interval': expected an integer >= 1, got 0"),
        (["review", "server"], "attribute 'server': 'bad host' is not a host name or address"),
        (["review", "sshkey"], "attribute 'sshkey': file 'missing' does not exist"),
    ]


def test_urls_must_be_urls_and_drivers_must_exist(config_dir):
    base = {"driver": "gerrit", "server": "r", "user": "gateq", "sshkey": "id_ed25519",
            "known-hosts": "known_hosts"}
    assert errors(config_dir, {"review": {**base, "git-url": "https://r", "web-url": "r"}}) == [
        (["review", "git-url"], "attribute 'git-url': 'https://r' is not a ssh URL"),
        (["review", "web-url"], "attribute 'web-url': 'r' is not a https or http URL"),
    ]
    assert errors(config_dir, {"other": {"driver": "fossil"}}) == [
        (["other", "driver"],
         "attribute 'driver': unknown driver 'fossil' (one of git, gerrit, gitea, github, gitlab)")]
