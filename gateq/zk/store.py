"""The gate's state in ZooKeeper, behind the SqliteStore's methods.

Under the root (`/gateq`; a chroot in zookeeper.hosts keeps gates apart):
- `journal/e-N`: one small node per event, sequential (its journal row is
  N + 1, so that row 0 still means "nothing read"); the nodes up to a
  checkpoint are deleted with it, so the journal never grows past the
  checkpoint interval;
- `checkpoints/c-SEQ`, `status/v-T`: compressed, sharded (sharded.py);
- `results/r-N` and `results/items/ITEM`, made in one transaction, so a
  result is recorded once;
- `intake/i-N` and `outbox/o-N` (intake.py, outbox.py): versioned rows,
  each update a compare-and-swap on the row's version;
- `logs/BUILD`: finished builds' logs, their ends, for every host's web
  (buildlogs.py), written when their BuildCompleted is journaled;
- `schedulers`: the election (scheduler.py); who is active, for the web.
Every kazoo failure is one StateError line naming the ensemble (client.py).
"""
from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
from typing import Callable, Iterator

from kazoo.exceptions import NodeExistsError, NoNodeError

from ..config.model import ZooKeeperSettings
from ..core import codec
from ..core.events import BuildCompleted, Event
from ..state.errors import RESTORE, NoState, StateError, json_object
from ..state.sqlite import prepare_dir
from . import buildlogs, sharded
from .buildboard import CLAIMS, EXECUTORS, ExecutorInfo
from .client import connect, guard, where
from .intake import ZkIntake
from .outbox import ZkOutbox

log = logging.getLogger("gateq.engine")

ROOT = "/gateq"
FORMAT = 1
MAX_EVENT_BYTES = 256 * 1024          # far below 1 MB: an event is a few hundred bytes
PARTS = ("journal", "checkpoints", "results/items", "status", "intake", "outbox", "outbox-keys",
         "logs")


def row_of(name: str) -> int:
    """A sequential node's journal row (or intake/outbox id): its number + 1."""
    return int(name.rpartition("-")[2]) + 1


class ZooKeeperStore(ZkIntake, ZkOutbox):
    """`fence` is called before every write the engine makes, so that a
    scheduler whose session is in doubt writes nothing (session.py).
    Invariant: every journal node after the newest whole checkpoint is
    there, in order; nodes at or below it may linger only until the next
    checkpoint's pruning (readers skip them)."""

    def __init__(self, settings: ZooKeeperSettings, state_dir: str, create: bool = True,
                 client=None):
        self.settings, self.state_dir = settings, state_dir
        if create:
            prepare_dir(state_dir)          # still this host's: logs, workspaces, locks
        self.path = where(settings)
        self.owned = client is None
        self.sibling = False                             # a for_thread() view of another
        self.fence: Callable[[], None] = lambda: None    # a scheduler's SessionWatch.check
        self.keeper: buildlogs.Keeper | None = None       # made at the first finished build
        self._final_rows: dict[str, dict[str, dict]] = {}  # rows.py: final rows, by table
        self._rows_lock = threading.Lock()
        self.zk = connect(settings) if client is None else client
        try:
            self._open(create)
        except BaseException:
            self.close()
            raise

    def _open(self, create: bool) -> None:
        with self._guard("open the gate's state"):
            try:
                meta, _ = self.zk.get(f"{ROOT}/meta")
            except NoNodeError:
                if not create:
                    raise NoState(f"{self.path}: no gate has recorded anything here yet") from None
                self._create()
                meta, _ = self.zk.get(f"{ROOT}/meta")
        fmt = json.loads(meta or b"{}").get("format")
        if fmt != FORMAT:
            raise StateError(f"{self.path}: state format {fmt} is not {FORMAT}, the one this "
                             "gateq reads (run the gateq that wrote it)")

    def _create(self) -> None:
        for part in PARTS:
            self.zk.ensure_path(f"{ROOT}/{part}")
        try:
            self.zk.create(f"{ROOT}/meta", json.dumps({"format": FORMAT,
                                                        "created": time.time()}).encode())
        except NodeExistsError:
            pass                                 # another process made it meanwhile

    def _guard(self, doing: str):
        return guard(self.path, doing)

    def for_thread(self) -> "ZooKeeperStore":
        """The store for another thread: kazoo's client is thread-safe, so
        it is shared, with this store's fence; closing it closes nothing."""
        sibling = copy.copy(self)
        sibling.sibling = True
        sibling.fence = lambda: self.fence()        # set by a scheduler after this call too
        return sibling

    def close(self) -> None:
        if self.sibling:
            return                                  # the thread's view: its parent closes
        if self.keeper is not None:
            self.keeper.close()
        if self.owned:
            self.zk.stop()
            self.zk.close()

    # -- journal ------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Durable once this returns: ZooKeeper's quorum has the node."""
        self.fence()
        with self._guard("record an event"):
            row = row_of(self.zk.create(*self._event_node(event), sequence=True))
        if isinstance(event, BuildCompleted):
            self.keep_log(event.build)
        return row

    # -- build logs and schedulers, for every host's web ---------------------

    def keep_log(self, build: str) -> None:
        """The build's log (its end) into ZooKeeper, by the Keeper's thread."""
        if self.keeper is None:
            self.keeper = buildlogs.Keeper(self.zk, self.path)
        self.keeper.keep(build, os.path.join(self.state_dir, "logs", f"{build}.log"))

    def build_log(self, build: str) -> bytes | None:
        """A finished build's log as kept in ZooKeeper (its end), or None."""
        with self._guard("read a build log"):
            try:
                return buildlogs.read(self.zk, build)
            except ValueError as exc:
                raise StateError(f"{self.path}: the log of build {build} cannot be read "
                                 f"({exc})") from None

    def build_runner(self, build: str) -> str | None:
        """The executor (HOST:PID) that holds the build's claim, if one does."""
        with self._guard("read a build's claim"):
            try:
                return self.zk.get(f"{CLAIMS}/{build}")[0].decode("utf-8", "replace")
            except NoNodeError:
                return None

    def build_log_url(self, build: str) -> str | None:
        """Where the executor running the build serves its log (live_logs.py)."""
        runner = self.build_runner(build)
        if runner is None:
            return None
        with self._guard("read an executor's node"):
            try:
                data = self.zk.get(f"{EXECUTORS}/{runner}")[0]
            except NoNodeError:
                return None
        try:
            logs = ExecutorInfo.decode(runner, data).logs
        except (ValueError, KeyError, TypeError):
            return None
        return f"{logs}/logs/{build}" if logs else None

    def schedulers(self) -> list[str]:
        """The `gateq scheduler` processes (HOST:PID), the active one first."""
        with self._guard("read the schedulers"):
            try:
                names = self.zk.get_children(f"{ROOT}/schedulers")
            except NoNodeError:
                return []
            found = []
            for name in sorted(names, key=lambda n: n.rpartition("__")[2]):
                try:
                    found.append(self.zk.get(f"{ROOT}/schedulers/{name}")[0].decode(
                        "utf-8", "replace"))
                except NoNodeError:
                    pass                          # it left meanwhile
        return found

    def processes(self) -> dict:
        """Who serves the gate now: the schedulers (the active one first),
        and each executor's and merger's capacity and load."""
        from .mergeboard import MERGERS, MergerInfo
        found: dict = {"schedulers": self.schedulers(), "executors": [], "mergers": []}
        with self._guard("read the executors and mergers"):
            for kind, path, info in (("executors", EXECUTORS, ExecutorInfo),
                                     ("mergers", MERGERS, MergerInfo)):
                try:
                    names = sorted(self.zk.get_children(path))
                except NoNodeError:
                    continue
                for name in names:
                    try:
                        seen = info.decode(name, self.zk.get(f"{path}/{name}")[0])
                    except (NoNodeError, ValueError, KeyError, TypeError):
                        continue                  # left meanwhile, or unreadable
                    found[kind].append({"name": name, "slots": seen.slots,
                                        "running": seen.running})
        return found

    def _event_node(self, event: Event) -> tuple[str, bytes]:
        data = codec.encode(event).encode()
        if len(data) > MAX_EVENT_BYTES:
            raise StateError(f"{self.path}: an event of {len(data)} bytes is too large to record")
        return f"{ROOT}/journal/e-", data

    def _journal(self) -> list[tuple[int, str]]:
        with self._guard("read the journal"):
            names = self.zk.get_children(f"{ROOT}/journal")
        return sorted((row_of(n), n) for n in names)

    def events_after(self, seq: int, limit: int | None = None) -> Iterator[tuple[int, Event]]:
        rows = [(row, name) for row, name in self._journal() if row > seq]
        for row, name in rows[:limit]:
            with self._guard("read the journal"):
                raw, _ = self.zk.get(f"{ROOT}/journal/{name}")
            yield row, self._decode(row, raw)

    def _decode(self, row: int, raw: bytes) -> Event:
        try:
            return codec.decode(raw.decode("utf-8"))
        except (ValueError, KeyError, TypeError) as exc:
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise StateError(f"{self.path}: journal row {row} cannot be decoded ({reason}): "
                             f"{RESTORE}") from None

    def pending_count(self, seq: int) -> int:
        return sum(1 for row, _ in self._journal() if row > seq)

    def last_seq(self) -> int:
        rows = self._journal()
        return max(rows[-1][0] if rows else 0, self.last_checkpoint_seq())

    # -- checkpoints --------------------------------------------------------

    def checkpoint(self, seq: int, data: dict) -> None:
        """Everything up to `seq` is summarised by `data`; older nodes go."""
        self.fence()
        with self._guard("write a checkpoint"):
            sharded.write(self.zk, f"{ROOT}/checkpoints", f"c-{seq:012d}",
                          json.dumps(data).encode())
            self._prune_journal(seq)

    def _prune_journal(self, seq: int) -> None:
        done = [name for row, name in self._journal() if row <= seq]
        for start in range(0, len(done), 100):       # one round trip per hundred nodes
            batch = self.zk.transaction()
            for name in done[start:start + 100]:
                batch.delete(f"{ROOT}/journal/{name}")
            batch.commit()

    def last_checkpoint_seq(self) -> int:
        with self._guard("read the checkpoint"):
            names = self.zk.get_children(f"{ROOT}/checkpoints")
        return max((int(n[2:]) for n in names), default=0)

    def last_checkpoint(self) -> tuple[int, dict | None]:
        with self._guard("read the checkpoint"):
            try:
                found = sharded.read_latest(self.zk, f"{ROOT}/checkpoints")
            except (ValueError, KeyError) as exc:
                raise StateError(f"{self.path}: the checkpoint cannot be read ({exc}): "
                                 f"{RESTORE}") from None
        if found is None:
            return 0, None
        name, raw = found
        return int(name[2:]), self._json(f"the checkpoint at journal row {int(name[2:])}", raw)

    # -- results and status -------------------------------------------------

    def add_result(self, record: dict) -> bool:
        """Record a finished item once; True if it was not recorded before."""
        return self.add_result_with_reports(record, [], time.time())

    def _result_ops(self, batch, record: dict) -> None:
        batch.create(f"{ROOT}/results/items/{int(record['item'])}", b"")
        batch.create(f"{ROOT}/results/r-", json.dumps(record, sort_keys=True).encode(),
                     sequence=True)

    def results(self) -> list[dict]:
        """Every result, oldest first: all of them asked for at once, so a
        gate of years costs one listing and the transfer, not a round trip
        per result (bench/zk_results.py)."""
        with self._guard("read the results"):
            names = sorted(n for n in self.zk.get_children(f"{ROOT}/results") if n != "items")
            asked = [(n, self.zk.get_async(f"{ROOT}/results/{n}")) for n in names]
            raws = []
            for name, reply in asked:
                try:
                    raws.append((name, reply.get(timeout=self.settings.session_timeout * 2)[0]))
                except NoNodeError:
                    continue                         # removed meanwhile
        return [self._json(f"result {n}", raw) for n, raw in raws]

    def write_status(self, snapshot: dict) -> None:
        self.fence()
        with self._guard("write the status"):
            sharded.write(self.zk, f"{ROOT}/status", f"v-{time.time_ns():020d}",
                          json.dumps(snapshot, sort_keys=True).encode())

    def read_status(self) -> dict | None:
        with self._guard("read the status"):
            try:
                found = sharded.read_latest(self.zk, f"{ROOT}/status")
            except (ValueError, KeyError) as exc:
                raise StateError(f"{self.path}: the status cannot be read ({exc})") from None
        return self._json("the status", found[1]) if found else None

    def _json(self, what: str, raw: bytes) -> dict:
        return json_object(self.path, what, raw)
