"""A sweep of generated bad inputs to the command line and the state directory.

Each case must exit non-zero with one line on stderr (log records of an
engine that started aside) and no traceback. The configuration's own sweep
is in tests/test_config_sweep.py.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sqlite3
import zlib

import pytest

from gateq.cli import main
from gate_fixture import Gate, not_logged

SUBCOMMANDS = ("validate", "event", "enqueue", "dequeue", "promote", "run", "serve", "status",
               "results", "simulate")
CHANGE_COMMANDS = ("event", "enqueue", "dequeue", "promote")


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    g = Gate(tmp_path_factory.mktemp("sweep"))
    g.change("nova", "fix-1")
    g.change("nova", "fix-2")
    g.approve("nova", "fix-1")
    with sqlite3.connect(os.path.join(g.config, "state", "gateq.db")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return g


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


def assert_one_line_failure(rc: int, err: str, case) -> None:
    assert rc != 0, case
    assert "Traceback" not in err, (case, err)
    lines = not_logged(err)
    assert len(lines) == 1 and lines[0].strip(), (case, err)


# -- the command line -------------------------------------------------------

def change_args(command: str, **override) -> list[str]:
    args = {"pipeline": "gate", "project": "nova", "change": "fix-1"}
    args.update(override)
    out = [command] + (["approved"] if command == "event" else [])
    for key, value in args.items():
        if value is None or (key == "pipeline" and command == "event"):
            continue
        out += [f"--{key}", value]
    return out


def cli_cases() -> list[list[str]]:
    cases: list[list[str]] = [[], ["frobnicate"], ["--nope"], ["-c"]]
    for command in SUBCOMMANDS:
        cases.append([command, "--no-such-option"])
        cases.append([command, "extra", "positional", "arguments"])
    for command in CHANGE_COMMANDS:
        for missing in ("project", "change") + (("pipeline",) if command != "event" else ()):
            cases.append(change_args(command, **{missing: None}))
        cases.append(change_args(command, project="keystone"))
        cases.append(change_args(command, project=""))
        cases.append(change_args(command, change="no-such-ref"))
        cases.append(change_args(command, change="../../etc/passwd"))
        cases.append(change_args(command, change="a" * 5000))
        cases.append(change_args(command, change="with space"))
        cases.append(change_args(command, change="nul\0byte"))
        cases.append(change_args(command, change="-rf"))
        cases.append(change_args(command, branch="no-such-branch"))
        cases.append(change_args(command, branch="nul\0"))
        cases.append(change_args(command, change="main"))
        if command != "event":
            cases.append(change_args(command, pipeline="nope"))
            cases.append(change_args(command, pipeline=""))
    cases += [["event", "merged", "--project", "nova", "--change", "fix-1"],
              ["event", "--project", "nova", "--change", "fix-1"],
              ["dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-2"],
              ["promote", "--pipeline", "check", "--project", "nova", "--change", "fix-1"],
              ["enqueue", "--pipeline", "gate", "--project", "nova", "--change", "main"],
              ["status", "--json", "--json=yes"], ["run", "--until-idle=1"],
              ["simulate"], ["simulate", "--trace", "/nonexistent.jsonl"],
              ["simulate", "--trace", "/dev/null", "--workers", "-1"],
              ["simulate", "--trace", "/dev/null", "--strategy", "nope"],
              ["simulate", "--generate", "nope"],
              ["simulate", "--generate", "distgit", "--param", "nope=1"],
              ["simulate", "--generate", "distgit", "--param", "failure_rate"],
              ["simulate", "--generate", "distgit", "--param", "failure_rate=lots"],
              ["simulate", "--generate", "distgit", "-o", "/nonexistent/dir/t.jsonl"],
              ["simulate", "--workers", "many"]]
    return cases


CLI_CASES = cli_cases()


@pytest.mark.parametrize("index", range(len(CLI_CASES)))
def test_bad_command_lines(gate, index):
    argv = CLI_CASES[index]
    if argv[:1] != ["simulate"] and "-c" not in argv:
        argv = [*argv[:1], "-c", gate.config, *argv[1:]] if argv and not argv[0].startswith("-") \
            else argv
    rc, err = run(argv)
    assert_one_line_failure(rc, err, argv)


def test_a_missing_or_bad_configuration_path(tmp_path):
    for path in (tmp_path / "none", tmp_path, "/dev/null", "/proc/self/mem"):
        rc, err = run(["-c", str(path), "validate"])
        assert rc == 1 and "Traceback" not in err and err.strip(), (path, err)
        assert all(re.match(r"\S+:\d+: \S", line) for line in err.splitlines()), err


# -- the state directory ------------------------------------------------------

def truncate_at(fraction: float):
    def damage(db: str) -> None:
        os.truncate(db, int(os.path.getsize(db) * fraction))
    damage.__name__ = f"truncate_at_{fraction}"
    return damage


def overwrite(offset: int, data: bytes):
    def damage(db: str) -> None:
        with open(db, "r+b") as f:
            f.seek(offset)
            f.write(data)
    damage.__name__ = f"overwrite_{offset}_{len(data)}"
    return damage


def sql(*statements: str):
    def damage(db: str) -> None:
        with sqlite3.connect(db) as conn:
            for statement in statements:
                conn.execute(statement)
    damage.__name__ = "sql: " + "; ".join(statements)[:60]
    return damage


def row(seq: int, text: str, crc: bool = True):
    checksum = zlib.crc32(text.encode()) if crc else 12345
    return sql(f"UPDATE journal SET event = '{text}', crc = {checksum} WHERE seq = {seq}")


def checkpoint(text: str):
    return sql("DELETE FROM journal", f"INSERT INTO checkpoints VALUES (1, '{text}')")


def replace_with_directory(db: str) -> None:
    os.unlink(db)
    os.mkdir(db)


def replace_with_dangling_link(db: str) -> None:
    os.unlink(db)
    os.symlink("/nonexistent/gateq.db", db)


def state_cases():
    cases = [truncate_at(f) for f in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)]
    cases += [replace_with_directory, replace_with_dangling_link]
    cases += [overwrite(0, b"not sqlite at all"), overwrite(16, b"\xff\xff"), overwrite(28, b"\0\0\0\0"),
              overwrite(0, os.urandom(4096)), overwrite(100, b"\xff" * 8)]
    cases += [sql(f"DROP TABLE {t}") for t in ("journal", "checkpoints", "results", "status")]
    cases += [sql("DELETE FROM journal"), sql("DELETE FROM meta"),
              sql("UPDATE meta SET value = '99' WHERE key = 'format'"),
              sql("INSERT INTO results (item, record) VALUES (7, 'x')"),
              sql("INSERT INTO results (item, record) VALUES (7, '[1, 2]')"),
              sql("DELETE FROM sqlite_sequence")]
    cases += [row(1, "{}"), row(1, "not json"), row(1, "[]"), row(1, '{"type": "Nope"}'),
              row(1, '{"type": "TriggerEvent"}'), row(1, '{"type": "TriggerEvent", "at": 1}'),
              row(1, '{"type": "DequeueRequested", "at": "x", "pipeline": 1}', crc=True),
              row(1, "{}", crc=False)]
    cases += [checkpoint("{}"), checkpoint("[]"), checkpoint("not json"), checkpoint('{"next_item": 1}'),
              checkpoint('{"version": 999}'), checkpoint('{"windows": {}}')]
    return cases


STATE_CASES = state_cases()
STATE_COMMANDS = (["run", "--until-idle"], ["status"], ["results"],
                  ["dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-1"])


@pytest.mark.parametrize("damage", STATE_CASES, ids=lambda d: d.__name__)
def test_damaged_state(gate, tmp_path, damage):
    config = str(tmp_path / "config")
    shutil.copytree(gate.config, config, symlinks=True)
    damage(os.path.join(config, "state", "gateq.db"))
    failed = 0
    for command in STATE_COMMANDS:
        rc, err = run(["-c", config, *command])
        assert "Traceback" not in err, (damage.__name__, command, err)
        if rc != 0:
            assert_one_line_failure(rc, err, (damage.__name__, command))
            failed += 1
    assert failed, f"{damage.__name__}: no command noticed the damage"
