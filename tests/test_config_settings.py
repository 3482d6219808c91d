"""Server settings in gateq.yaml: `logs` (build log and workspace retention,
the cap on a build's output) and `checkpoint` (journal events between
checkpoints), with their defaults from the schema."""
from __future__ import annotations

import dataclasses

import pytest

from config_fixture import refused, write
from gateq.config.loader import load_config
from gateq.config.model import Config, LogRetention

SERVER = "connections:\n  distgit: {driver: git, root: repos}\n"


def make(tmp_path, server: str) -> str:
    write(tmp_path, "gateq.yaml", SERVER + server)
    write(tmp_path, "layouts/main.yaml", "- queue: {name: q}\n")
    (tmp_path / "repos").mkdir()
    return str(tmp_path)


def test_defaults_come_from_the_schema_and_match_the_model(tmp_path):
    config = load_config(make(tmp_path, ""))
    assert config.logs == LogRetention(keep_days=30, keep_count=None, max_output=64 * 2**20)
    assert config.checkpoint_interval == 1000
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    assert defaults["checkpoint_interval"] == 1000 and defaults["warnings"] == ()
    assert defaults["logs"] == LogRetention() == config.logs


@pytest.mark.parametrize("logs, retention", [
    ("{keep-days: 0.5}", LogRetention(0.5, None, 64 * 2**20)),
    ("{keep-days: null, keep-count: 20}", LogRetention(None, 20, 64 * 2**20)),
    ("{keep-days: 7, keep-count: 3, max-output: 1000}", LogRetention(7, 3, 1000)),
    ("{max-output: 10K}", LogRetention(30, None, 10 * 1024)),
    ("{max-output: 2G}", LogRetention(30, None, 2 * 2**30)),
    ("{max-output: '512'}", LogRetention(30, None, 512)),
])
def test_log_retention_values(tmp_path, logs, retention):
    assert load_config(make(tmp_path, f"logs: {logs}\n")).logs == retention


def test_checkpoint_interval(tmp_path):
    assert load_config(make(tmp_path, "checkpoint: {interval: 1}\n")).checkpoint_interval == 1


SIZE = "expected a number of bytes, or a size such as 64M (suffix K, M or G)"


@pytest.mark.parametrize("server, error", [
    ("logs: {max-output: 64MB}", f"3: logs: attribute 'max-output': {SIZE}, got '64MB'"),
    ("logs: {max-output: 1.5M}", f"3: logs: attribute 'max-output': {SIZE}, got '1.5M'"),
    ("logs: {max-output: 64 M}", f"3: logs: attribute 'max-output': {SIZE}, got '64 M'"),
    ("logs: {max-output: 64m}", f"3: logs: attribute 'max-output': {SIZE}, got '64m'"),
    ("logs: {max-output: 0}", f"3: logs: attribute 'max-output': {SIZE}, got 0"),
    ("logs: {max-output: 0K}", f"3: logs: attribute 'max-output': {SIZE}, got '0K'"),
    ("logs: {max-output: -5}", f"3: logs: attribute 'max-output': {SIZE}, got -5"),
    ("logs: {max-output: 2.5}", f"3: logs: attribute 'max-output': {SIZE}, got 2.5"),
    ("logs: {max-output: true}", f"3: logs: attribute 'max-output': {SIZE}, got True"),
    ("logs: {max-output: null}", f"3: logs: attribute 'max-output': {SIZE}, got None"),
    ("logs: {keep-days: 0}", "3: logs: attribute 'keep-days': expected a number of days > 0 or null, got 0"),
    ("logs: {keep-days: -1}", "3: logs: attribute 'keep-days': expected a number of days > 0 or null, got -1"),
    ("logs: {keep-days: .inf}",
     "3: logs: attribute 'keep-days': expected a number of days > 0 or null, got inf"),
    ("logs: {keep-days: month}",
     "3: logs: attribute 'keep-days': expected a number of days > 0 or null, got 'month'"),
    ("logs: {keep-days: yes}",
     "3: logs: attribute 'keep-days': expected a number of days > 0 or null, got True"),
    ("logs: {keep-count: 0}", "3: logs: attribute 'keep-count': expected an integer >= 1, got 0"),
    ("logs: {keep-count: 2.5}", "3: logs: attribute 'keep-count': expected an integer >= 1, got 2.5"),
    ("logs: {keep: 3}", "3: logs: unknown attribute 'keep'"),
    ("logs: 30", "3: attribute 'logs': expected a dictionary"),
    ("checkpoint: {interval: 0}", "3: checkpoint: attribute 'interval': expected an integer >= 1, got 0"),
    ("checkpoint: {interval: often}",
     "3: checkpoint: attribute 'interval': expected an integer >= 1, got 'often'"),
    ("checkpoint: {every: 10}", "3: checkpoint: unknown attribute 'every'"),
])
def test_bad_settings(tmp_path, server, error):
    assert refused(make(tmp_path, server + "\n")) == [f"gateq.yaml:{error}"]
