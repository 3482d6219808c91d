"""`zookeeper:` in gateq.yaml: hosts, session timeout and TLS files, checked
with FILE:LINE one-line errors; absent, the state stays in SQLite."""
from __future__ import annotations

import pytest

from config_fixture import ERROR_LINE, refused, write
from gateq.config.loader import load_config
from gateq.config.model import ZooKeeperSettings

SERVER = "connections:\n  distgit: {driver: git, root: repos}\n"


def make(tmp_path, server: str) -> str:
    write(tmp_path, "gateq.yaml", SERVER + server)
    write(tmp_path, "layouts/main.yaml", "- queue: {name: q}\n")
    (tmp_path / "repos").mkdir()
    return str(tmp_path)


def test_absent_means_sqlite(tmp_path):
    assert load_config(make(tmp_path, "")).zookeeper is None


def test_hosts_and_defaults(tmp_path):
    config = load_config(make(tmp_path, "zookeeper: {hosts: 'zk1:2181,zk2:2181/gate'}\n"))
    assert config.zookeeper == ZooKeeperSettings("zk1:2181,zk2:2181/gate", 10.0, None)


def test_executors_and_the_git_daemon_address(tmp_path):
    config = load_config(make(tmp_path, "zookeeper:\n  hosts: zk:1\n  executors: true\n"
                              "  git-listen: '0.0.0.0:9418'\n"))
    assert (config.zookeeper.executors, config.zookeeper.git_listen) == (True, ("0.0.0.0", 9418))
    assert load_config(make(tmp_path / "other", "zookeeper: {hosts: 'zk:1'}\n")
                       ).zookeeper.git_listen == ("127.0.0.1", 0)
    assert not config.zookeeper.mergers
    assert load_config(make(tmp_path / "mergers", "zookeeper: {hosts: 'zk:1', executors: true, "
                            "mergers: true}\n")).zookeeper.mergers
    assert load_config(make(tmp_path / "logs", "zookeeper: {hosts: 'zk:1', log-listen: '[::1]:8100'}\n")
                       ).zookeeper.log_listen == ("::1", 8100)


def test_tls_files_are_made_absolute(tmp_path):
    for name in ("c.pem", "k.pem", "ca.pem"):
        write(tmp_path, f"tls/{name}", "x\n")
    config = load_config(make(tmp_path, "zookeeper:\n  hosts: zk:2281\n  session-timeout: 4\n"
                              "  tls: {cert: tls/c.pem, key: tls/k.pem, ca: tls/ca.pem}\n"))
    assert config.zookeeper.session_timeout == 4.0
    assert config.zookeeper.tls == tuple(str(tmp_path / "tls" / n) for n in ("c.pem", "k.pem", "ca.pem"))


@pytest.mark.parametrize("server, error", [
    ("zookeeper: {}\n", "gateq.yaml:3: zookeeper: missing required attribute 'hosts'"),
    ("zookeeper: {hosts: zk1}\n", "gateq.yaml:3: zookeeper: attribute 'hosts': expected host:port"),
    ("zookeeper: {hosts: 'zk1:2181,:9'}\n", "gateq.yaml:3: zookeeper: attribute 'hosts': expected host:port"),
    ("zookeeper: {hosts: 'zk1:99999'}\n", "gateq.yaml:3: zookeeper: attribute 'hosts': expected host:port"),
    ("zookeeper:\n  hosts: zk:1\n  session-timeout: 0\n",
     "gateq.yaml:5: zookeeper: attribute 'session-timeout': expected a number of seconds > 0"),
    ("zookeeper:\n  hosts: zk:1\n  tls: {cert: a, key: b, ca: c}\n",
     "gateq.yaml:5: zookeeper: attribute 'tls.cert': 'a' is not a readable file"),
    ("zookeeper:\n  hosts: zk:1\n  port: 3\n", "gateq.yaml:5: zookeeper: unknown attribute 'port'"),
    ("zookeeper:\n  hosts: zk:1\n  executors: maybe\n",
     "gateq.yaml:5: zookeeper: attribute 'executors': expected true or false, got 'maybe'"),
    ("zookeeper:\n  hosts: zk:1\n  git-listen: nowhere\n",
     "gateq.yaml:5: zookeeper: attribute 'git-listen': expected HOST:PORT"),
    ("zookeeper:\n  hosts: zk:1\n  log-listen: 127.0.0.1:99999\n",
     "gateq.yaml:5: zookeeper: attribute 'log-listen': expected HOST:PORT"),
    ("zookeeper:\n  hosts: zk:1\n  mergers: true\n",
     "gateq.yaml:5: zookeeper: attribute 'mergers': true needs executors: true too "
     "(mergers fetch from the git daemon"),
])
def test_bad_settings_are_one_line_each(tmp_path, server, error):
    lines = refused(make(tmp_path, server))
    assert any(line.startswith(error) for line in lines), lines
    assert all(ERROR_LINE.match(line) for line in lines), lines
