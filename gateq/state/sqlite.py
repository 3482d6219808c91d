"""The state directory's SQLite database: the truth that survives a kill.

- `journal`: every scheduler event in the order it was recorded, by the CLI
  (events, enqueue, dequeue, promote) or by the engine (merge, build and
  landing results). Replaying it through the scheduler rebuilds the state.
- `checkpoints`: the scheduler's state at a journal row; rows up to it are
  cut, so replay starts after the last checkpoint.
- `results`: finished items, written idempotently.
- `status`: the last snapshot the engine wrote, for `gateq status`.
- `meta`: the format of the database.
- `outbox`: reports for review systems, each delivered once by gateq/outbox.py
  (state/outbox.py);
- `intake`: what the connections and hook scripts heard, before the engine
  turns it into journal events (state/intake.py).
The last two came after format 1: they are made in place in a database
without them.

A database that exists is never recreated: one that lost its tables or
journal rows is refused (its events would be lost silently), and a new one
appears whole, by a rename, so no reader ever sees it half-made.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import zlib
from typing import Iterator

from ..core import codec
from ..core.events import Event
from .errors import RESTORE, NoState, StateError, from_os, from_sqlite, json_object
from .intake import INTAKE_TABLES, IntakeTable
from .outbox import OUTBOX_TABLES, OutboxTable

DB_NAME = "gateq.db"
FORMAT = 1
TABLES = {
    # crc: of the event's UTF-8 text, so that a garbled row is refused, not replayed.
    "journal": "CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, "
               "crc INTEGER)",
    "checkpoints": "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)",
    "results": "CREATE TABLE results (n INTEGER PRIMARY KEY AUTOINCREMENT, "
               "item INTEGER UNIQUE NOT NULL, record TEXT NOT NULL)",
    "status": "CREATE TABLE status (id INTEGER PRIMARY KEY CHECK (id = 1), "
              "snapshot TEXT NOT NULL, updated_at REAL NOT NULL)",
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
}
# Tables added after format 1, made in place in an older database.
LATER_TABLES = {**OUTBOX_TABLES, **INTAKE_TABLES}


class SqliteStore(OutboxTable, IntakeTable):
    """Invariant, checked at every open: the journal holds exactly the rows
    after the last checkpoint, without a gap, up to the last row ever added."""

    def __init__(self, state_dir: str, create: bool = True):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, DB_NAME)
        if create:
            prepare_dir(state_dir)
        if not os.path.lexists(self.path):
            if not create:
                raise NoState(f"{self.path}: no gate has recorded anything here yet")
            self._create()
        with self._guard("open the database"):
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        with self._guard("open the database"):
            self._check()             # before any write: an emptied file stays as it is
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")

    def for_thread(self) -> "SqliteStore":
        """The store for another thread (SQLite's connections stay in theirs)."""
        return SqliteStore(self.state_dir, create=False)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _guard(self, doing: str):
        try:
            yield
        except sqlite3.Error as exc:
            raise from_sqlite(self.path, exc, doing) from None

    # -- creation and checks --------------------------------------------------

    def _create(self) -> None:
        """Make the database under a temporary name, then link it into place."""
        tmp = f"{self.path}.new-{os.getpid()}-{threading.get_ident()}"   # two threads may create it
        try:
            with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                with db:
                    db.execute("BEGIN")
                    for ddl in (*TABLES.values(), *LATER_TABLES.values()):
                        db.execute(ddl)
                    db.executemany("INSERT INTO meta VALUES (?, ?)",
                                   [("format", str(FORMAT)), ("created", str(time.time()))])
            os.link(tmp, self.path)
        except FileExistsError:
            pass                                   # another process made it meanwhile
        except sqlite3.Error as exc:
            raise from_sqlite(self.path, exc, "create the database") from None
        except OSError as exc:
            raise from_os(self.path, exc, "create the database") from None
        finally:
            for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def _check(self) -> None:
        """One read transaction, so that rows another process appends meanwhile
        are either all seen or not at all (two separate reads of the journal's
        rows and of its sequence would take such an append for lost rows)."""
        self.db.execute("BEGIN")
        try:
            self._check_in_transaction()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _check_in_transaction(self) -> None:
        names = {r[0]: r[1] for r in self.db.execute("SELECT name, type FROM sqlite_master")}
        tables = {name for name, kind in names.items() if kind == "table"}
        for name, ddl in LATER_TABLES.items() if "journal" in tables else ():
            if name not in names:          # older than the table (or index)
                self.db.execute(ddl)
                tables.add(name)
        missing = sorted(set(TABLES) - tables)
        if missing == ["meta"]:                     # made before the format was recorded
            self.db.execute(TABLES["meta"])
            self.db.execute("ALTER TABLE journal ADD COLUMN crc INTEGER")
            # Its INSERT OR IGNORE of results used up sequence numbers: remember the gap.
            gap = self._sequence("results") - self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("format", str(FORMAT)), ("results_gap", str(gap))])
        elif missing:
            raise StateError(f"{self.path}: the database has lost its table(s) "
                             f"{', '.join(missing)}: {RESTORE}")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        fmt = meta.get("format", "?")
        if fmt != str(FORMAT):
            raise StateError(f"{self.path}: database format {fmt} is not {FORMAT}, the one this "
                             "gateq reads (run the gateq that wrote it, or restore a backup)")
        self._check_journal()
        self._check_results(int(meta.get("results_gap", "0")))

    def _check_journal(self) -> None:
        low, high, count = self.db.execute("SELECT MIN(seq), MAX(seq), COUNT(*) FROM journal").fetchone()
        cut = self.db.execute("SELECT MAX(seq) FROM checkpoints").fetchone()[0] or 0
        last = self._sequence("journal")
        expected = (cut + 1, last, last - cut) if last > cut else (None, None, 0)
        if (low, high, count) != expected:
            raise StateError(f"{self.path}: the journal has lost rows (it should hold rows "
                             f"{cut + 1} to {last} after the checkpoint at {cut}, it holds {count} "
                             f"between {low} and {high}): {RESTORE}")

    def _check_results(self, gap: int) -> None:
        count = self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        last = self._sequence("results") - gap
        if count != last:
            raise StateError(f"{self.path}: the results table has lost rows ({count} of {last}): "
                             f"{RESTORE}")

    def _sequence(self, table: str) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return row[0] if row else 0

    # -- journal ------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Durable once this returns: the row is committed. On a full disk
        nothing is written (DiskFull)."""
        with self._guard("record an event"):
            return self._insert_event(event)

    def _insert_event(self, event: Event) -> int:
        text = codec.encode(event)
        return self.db.execute("INSERT INTO journal (event, crc) VALUES (?, ?)",
                               (text, zlib.crc32(text.encode()))).lastrowid

    def events_after(self, seq: int, limit: int | None = None) -> Iterator[tuple[int, Event]]:
        with self._guard("read the journal"):
            rows = self.db.execute("SELECT seq, CAST(event AS BLOB), crc FROM journal WHERE seq > ? "
                                   "ORDER BY seq LIMIT ?", (seq, -1 if limit is None else limit)).fetchall()
        for row_seq, raw, crc in rows:
            yield row_seq, self._decode(row_seq, raw, crc)

    def _decode(self, seq: int, raw: bytes, crc: int | None) -> Event:
        try:
            if crc is not None and zlib.crc32(raw) != crc:
                raise ValueError("its checksum does not match: the row is garbled")
            return codec.decode(raw.decode("utf-8"))
        except (ValueError, KeyError, TypeError) as exc:      # UnicodeDecodeError is a ValueError
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise StateError(f"{self.path}: journal row {seq} cannot be decoded ({reason}): "
                             f"{RESTORE}") from None

    def pending_count(self, seq: int) -> int:
        with self._guard("read the journal"):
            return self.db.execute("SELECT COUNT(*) FROM journal WHERE seq > ?", (seq,)).fetchone()[0]

    def last_seq(self) -> int:
        with self._guard("read the journal"):
            return max(self._sequence("journal"),
                       self.db.execute("SELECT MAX(seq) FROM checkpoints").fetchone()[0] or 0)

    # -- checkpoints --------------------------------------------------------

    def checkpoint(self, seq: int, data: dict) -> None:
        """Everything up to `seq` is summarised by `data`; older rows go."""
        with self._guard("write a checkpoint"), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (seq, json.dumps(data)))
            self.db.execute("DELETE FROM checkpoints WHERE seq < ?", (seq,))
            self.db.execute("DELETE FROM journal WHERE seq <= ?", (seq,))

    def last_checkpoint(self) -> tuple[int, dict | None]:
        with self._guard("read the checkpoint"):
            row = self.db.execute("SELECT seq, data FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return 0, None
        try:
            data = json.loads(row[1])
        except ValueError as exc:
            raise StateError(f"{self.path}: the checkpoint at journal row {row[0]} cannot be read "
                             f"({exc}): {RESTORE}") from None
        if not isinstance(data, dict):
            raise StateError(f"{self.path}: the checkpoint at journal row {row[0]} is not an "
                             f"object: {RESTORE}")
        return row[0], data

    # -- results and status -------------------------------------------------

    def add_result(self, record: dict) -> bool:
        """Record a finished item once; True if it was not recorded before."""
        with self._guard("record a result"):
            # Not INSERT OR IGNORE: an ignored row would use up a sequence number,
            # and the open check counts on rows == sequence.
            return self.db.execute(
                "INSERT INTO results (item, record) SELECT ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM results WHERE item = ?)",
                (record["item"], json.dumps(record, sort_keys=True), record["item"])).rowcount == 1

    def results(self) -> list[dict]:
        with self._guard("read the results"):
            rows = self.db.execute("SELECT n, record FROM results ORDER BY n").fetchall()
        return [self._json(f"result row {n}", text) for n, text in rows]

    def write_status(self, snapshot: dict) -> None:
        with self._guard("write the status"):
            self.db.execute("INSERT OR REPLACE INTO status VALUES (1, ?, ?)",
                            (json.dumps(snapshot, sort_keys=True), time.time()))

    def read_status(self) -> dict | None:
        with self._guard("read the status"):
            row = self.db.execute("SELECT snapshot FROM status WHERE id = 1").fetchone()
        return self._json("the status", row[0]) if row else None

    def _json(self, what: str, text: str) -> dict:
        return json_object(self.path, what, text)


def prepare_dir(state_dir: str) -> None:
    """The state directory exists and is a directory, or one line says why not."""
    if os.path.lexists(state_dir) and not os.path.isdir(state_dir):
        raise StateError(f"{state_dir}: the state directory is not a directory "
                         "(move the file aside, or set state.path in gateq.yaml)")
    try:
        os.makedirs(state_dir, exist_ok=True)
    except OSError as exc:
        raise from_os(state_dir, exc, "create the state directory") from None
