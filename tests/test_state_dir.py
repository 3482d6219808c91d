"""A broken state directory: every command says so in one line and exits 3.

Never a traceback, and never a silent fresh start: a database that lost its
tables or rows is refused, not recreated, so recorded events are not lost.
"""
import os
import sqlite3
import subprocess

import pytest

from gateq.cli import Exit
from gate_fixture import Gate, not_logged, wait_until
from small_fs import fill, remount, tmpfs

COMMANDS = [("status",), ("results", "--json"), ("run", "--until-idle"),
            ("event", "approved", "--project", "nova", "--change", "fix-1"),
            ("dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-1")]


def state_error(g: Gate, *args: str, status=(Exit.STATE,)) -> str:
    rc, out, err = g.gateq(*args)
    assert rc in status, (args, rc, out, err)
    assert "Traceback" not in err, err
    lines = not_logged(err)
    assert len(lines) == 1, err
    return lines[0]


def db_path(g: Gate) -> str:
    return os.path.join(g.config, "state", "gateq.db")


def recorded_gate(tmp_path) -> Gate:
    """A gate with three recorded events and no engine run yet."""
    g = Gate(tmp_path)
    for ref in ("fix-1", "fix-2", "fix-3"):
        g.change("nova", ref)
        g.approve("nova", ref)
    with sqlite3.connect(db_path(g)) as db:       # everything in the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return g


def rows(g: Gate) -> int:
    with sqlite3.connect(db_path(g)) as db:
        return db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]


def garble(path: str) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(os.path.getsize(path)))


def truncate_half(path: str) -> None:
    os.truncate(path, os.path.getsize(path) // 2)


def empty(path: str) -> None:
    os.truncate(path, 0)


@pytest.mark.parametrize("damage, said", [
    (garble, "the database is corrupt (file is not a database)"),
    (truncate_half, "the database is corrupt (database disk image is malformed)"),
    (empty, "the database has lost its table(s) checkpoints, journal, meta, results, status"),
])
def test_a_damaged_database_is_refused_by_every_command(tmp_path, damage, said):
    g = recorded_gate(tmp_path)
    damage(db_path(g))
    size = os.path.getsize(db_path(g))
    for command in COMMANDS:
        line = state_error(g, *command)
        assert line.startswith(f"gateq: error: {db_path(g)}: ") or \
            line.startswith(f"gateq: error: engine stopped: {db_path(g)}: "), line
        assert said in line and "restore it from a backup" in line, line
    assert os.path.getsize(db_path(g)) == size        # not recreated, not repaired


def test_a_database_that_lost_a_table_is_not_recreated(tmp_path):
    g = recorded_gate(tmp_path)
    with sqlite3.connect(db_path(g)) as db:
        db.execute("DROP TABLE results")
    for command in COMMANDS:
        assert "lost its table(s) results" in state_error(g, *command)
    with sqlite3.connect(db_path(g)) as db:
        assert db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 3
        assert not db.execute("SELECT name FROM sqlite_master WHERE name='results'").fetchall()


@pytest.mark.parametrize("lost", ["1", "2", "3", "1, 2, 3"])
def test_a_journal_that_lost_rows_is_refused(tmp_path, lost):
    g = recorded_gate(tmp_path)
    with sqlite3.connect(db_path(g)) as db:
        db.execute(f"DELETE FROM journal WHERE seq IN ({lost})")
    line = state_error(g, "run", "--until-idle")
    assert "the journal has lost rows (it should hold rows 1 to 3 after the checkpoint at 0" in line


def test_a_garbled_journal_row_is_named(tmp_path):
    g = recorded_gate(tmp_path)
    with sqlite3.connect(db_path(g)) as db:
        event, = db.execute("SELECT event FROM journal WHERE seq = 2").fetchone()
        db.execute("UPDATE journal SET event = ? WHERE seq = 2", (event.replace("fix-2", "fix-9"),))
    line = state_error(g, "run", "--until-idle")
    assert f"{db_path(g)}: journal row 2 cannot be decoded (its checksum does not match" in line
    assert g.results() == []            # nothing was decided on a garbled journal


def test_a_journal_row_that_is_not_an_event_is_named(tmp_path):
    import zlib
    g = recorded_gate(tmp_path)
    text = '{"type": "NoSuchEvent", "at": 1}'
    with sqlite3.connect(db_path(g)) as db:
        db.execute("UPDATE journal SET event = ?, crc = ? WHERE seq = 3", (text, zlib.crc32(text.encode())))
    assert "journal row 3 cannot be decoded" in state_error(g, "run", "--until-idle")
    assert "journal row 3 cannot be decoded" in state_error(
        g, "dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-1")


def test_a_checkpoint_missing_a_field_is_refused(tmp_path):
    g = recorded_gate(tmp_path)
    with sqlite3.connect(db_path(g)) as db:
        db.execute("INSERT INTO checkpoints VALUES (3, '{\"next_item\": 4}')")
        db.execute("DELETE FROM journal")
    line = state_error(g, "run", "--until-idle")
    assert f"{db_path(g)}: the checkpoint at journal row 3 is incomplete" in line


def test_a_state_directory_that_is_a_file_is_refused(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    with open(os.path.join(g.config, "state"), "w") as f:
        f.write("not a directory\n")
    for command in (("run", "--until-idle"), ("event", "approved", "--project", "nova", "--change", "fix-1")):
        rc, _, err = g.gateq(*command)       # the configuration's check finds it first
        assert (rc, err) == (Exit.CONFIG, "gateq.yaml:1: state: attribute 'path': 'state' is not "
                                          "a directory\n")
    from gateq.state import StateError, open_store
    with pytest.raises(StateError, match="the state directory is not a directory"):
        open_store(os.path.join(g.config, "state"))


def use_state_dir(g: Gate, path: str, min_free: str = "1M") -> None:
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write(f"state:\n  path: {path}\n  min-free: {min_free}\n")


def test_a_read_only_state_directory_is_refused(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    with tmpfs(str(tmp_path / "ro")) as mount:
        use_state_dir(g, f"{mount}/state")
        g.approve("nova", "fix-1")
        remount(mount, "ro")
        try:
            for command in COMMANDS[2:]:         # the configuration's check may find it first
                line = state_error(g, *command, status=(Exit.STATE, Exit.CONFIG))
                assert f"{mount}/state" in line and ("not writable" in line or "read-only" in line), line
        finally:
            remount(mount, "rw")
        g.run()
        assert g.outcome() == {"fix-1": "merged"}          # nothing recorded was lost


def test_an_event_on_a_full_disk_fails_whole_and_records_nothing(tmp_path):
    g = Gate(tmp_path)
    for ref in ("fix-1", "fix-2"):
        g.change("nova", ref)
    with tmpfs(str(tmp_path / "small"), "1m") as mount:
        use_state_dir(g, f"{mount}/state", min_free="64K")
        g.approve("nova", "fix-1")
        filler = fill(mount)
        line = state_error(g, "event", "approved", "--project", "nova", "--change", "fix-2")
        assert line.startswith(f"gateq: error: {mount}/state/gateq.db: cannot ") and \
            "no space left on the device (nothing was half-written" in line, line
        os.unlink(filler)
        with sqlite3.connect(f"{mount}/state/gateq.db") as db:
            assert db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1
        g.run()
        assert g.outcome() == {"fix-1": "merged"}


def test_a_full_disk_pauses_the_engine_which_resumes_when_space_returns(tmp_path):
    """Everything on one small filesystem: repositories, state, logs. The disk
    fills while a build runs: its result cannot be journaled, so the engine
    holds it and takes no new work; once space is back it goes on, and every
    change lands exactly once."""
    with tmpfs(str(tmp_path / "disk"), "24m") as disk:
        g = Gate(disk)
        with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
            f.write("state:\n  min-free: 1M\n")
        g.change("nova", "a", {"SLEEP": "2"})
        g.change("nova", "b")
        g.approve("nova", "a")
        err_path = tmp_path / "engine.err"
        with open(err_path, "w") as err:
            engine = g.cli_subprocess("serve", stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_until(lambda: os.listdir(g.seen), "a's build to start")
            filler = fill(disk)
            wait_until(lambda: "disk full, the engine takes no new work" in err_path.read_text(),
                       "the engine to notice the full disk")
            more = fill(disk, "filler-2")        # what the engine freed meanwhile (a workspace)
            line = state_error(g, "event", "approved", "--project", "nova", "--change", "b")
            assert "no space left on the device" in line
            assert engine.poll() is None                  # still running, paused
            os.unlink(filler)
            os.unlink(more)
            wait_until(lambda: "disk space is back" in err_path.read_text(), "the engine to resume")
            g.approve("nova", "b")
            wait_until(lambda: len(g.results()) == 2, "both changes to finish")
        finally:
            engine.terminate()
            engine.wait(timeout=30)
        assert engine.returncode == 0, err_path.read_text()
        assert g.landed() == ["a", "b"]
        assert g.outcome() == {"a": "merged", "b": "merged"}
        assert "Traceback" not in err_path.read_text()


def test_a_database_from_before_the_format_was_recorded_is_read(tmp_path):
    """gateq before this format: no meta table, no row checksums, and result
    inserts that used up sequence numbers; it is migrated in place."""
    from gateq.core import codec, events as ev
    from gateq.git.changes import resolve_change
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    change = resolve_change(g.bare("nova"), "nova", "fix-1", "main")
    os.makedirs(os.path.join(g.config, "state"))
    with sqlite3.connect(db_path(g)) as db:
        db.executescript("""
            CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
            CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
            CREATE TABLE results (n INTEGER PRIMARY KEY AUTOINCREMENT, item INTEGER UNIQUE NOT NULL,
                                  record TEXT NOT NULL);
            CREATE TABLE status (id INTEGER PRIMARY KEY CHECK (id = 1), snapshot TEXT NOT NULL,
                                 updated_at REAL NOT NULL);""")
        db.execute("INSERT INTO journal (event) VALUES (?)",
                   (codec.encode(ev.TriggerEvent(1.0, "distgit", "approved", change)),))
        for _ in range(2):   # the second used up a sequence number
            db.execute("INSERT OR IGNORE INTO results (item, record) VALUES "
                       "(0, '{\"item\": 0, \"pipeline\": \"old\"}')")
    g.run()
    assert g.outcome() == {"fix-1": "merged"}


def test_opening_the_store_while_another_process_appends_is_not_taken_for_lost_rows(tmp_path):
    """The open check reads the journal's rows and its sequence in one read
    transaction; read apart, an append between them looked like lost rows."""
    import multiprocessing
    from gateq.state import open_store
    state = str(tmp_path / "state")
    open_store(state).close()
    writer = multiprocessing.get_context("fork").Process(target=append_many, args=(state, 3000))
    writer.start()
    try:
        opened = 0
        while writer.is_alive() or opened < 50:
            open_store(state).close()
            opened += 1
    finally:
        writer.join()
    assert writer.exitcode == 0 and opened >= 50
    store = open_store(state)
    assert store.pending_count(0) == 3000


def append_many(state: str, count: int) -> None:
    from gateq.core import events as ev
    from gateq.state import open_store
    store = open_store(state)
    for i in range(count):
        store.append(ev.DequeueRequested(float(i), "gate", "nova", f"fix-{i}"))
