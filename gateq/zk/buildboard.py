"""The builds the active scheduler asks of executor processes, in ZooKeeper.

Under /gateq/builds:
- `requests/R-ITEM-BUILD`: one per build asked for, its data the
  StartBuild and the build's token for the artifact server. Names sort by priority: R is 0 for a dependent
  (gate) pipeline and 1 otherwise, ITEM the item's number, zero-padded (it
  grows with the order of arrival, so it follows the position in a queue);
- `claims/BUILD`: ephemeral, made by the executor that runs the build. It
  goes with the executor's session, so a build whose executor died is taken
  by another;
- `results/BUILD`: how it ended, made in one transaction with a check of the
  claim's version, so only the executor that holds the claim reports; the
  log's end goes with it (compressed, capped under ZooKeeper's node limit).
- `sources`: where the active scheduler's git daemon serves each project,
  and the URL of its artifact server if the layout has repositories
  (rewritten by every scheduler that becomes active, so a build asked for
  by its predecessor is fetched from the one that is there now).
Under /gateq/executors, `HOST:PID`: each executor's capacity and load.

The scheduler deletes a build's nodes once its end is journaled, or when it
cancels it; an executor whose build's request is gone stops that build.
Every record is a few hundred bytes; the number of requests is bounded by
the builds the scheduler's window lets run.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from kazoo.exceptions import NoNodeError

from ..core import actions as act
from ..core.codec import change_from, change_plain
from ..core.types import JobResult

BUILDS = "/gateq/builds"
REQUESTS = f"{BUILDS}/requests"
CLAIMS = f"{BUILDS}/claims"
RESULTS = f"{BUILDS}/results"
SOURCES = f"{BUILDS}/sources"
EXECUTORS = "/gateq/executors"

MAX_LOG_BYTES = 512 * 1024        # the log's end kept with a result (compressed, it is smaller)
TOKEN_HEADER = "X-Gateq-Token"    # how an executor shows a build's token to the artifact server


def request_name(action: act.StartBuild, dependent: bool) -> str:
    return f"{0 if dependent else 1}-{action.item:010d}-{action.build}"


def build_of(request: str) -> str:
    """The build a request node is for (its name after the priority)."""
    return request.split("-", 2)[2]


@dataclass(frozen=True)
class BuildRequest:
    """What an executor needs to run one build: the action, and the token
    that lets it fetch the build's view and upload its export. (ZooKeeper
    sets no ACLs here: whoever reads the node may use the token.)"""
    action: act.StartBuild
    token: str = ""

    def encode(self) -> bytes:
        a = self.action
        return json.dumps({
            "build": a.build, "item": a.item, "pipeline": a.pipeline, "job": a.job,
            "change": change_plain(a.change), "state": [list(s) for s in a.state],
            "chain": list(a.chain), "artifacts": [list(x) for x in a.artifacts],
            "more": [change_plain(c) for c in a.more], "control": a.control,
            "token": self.token},
            sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> "BuildRequest":
        d = json.loads(data)
        return cls(act.StartBuild(
            d["build"], d["item"], d["pipeline"], d["job"], change_from(d["change"]),
            tuple(tuple(s) for s in d["state"]), tuple(d["chain"]),
            tuple(tuple(x) for x in d["artifacts"]), tuple(change_from(c) for c in d["more"]),
            d["control"]), d.get("token", ""))


@dataclass(frozen=True)
class Sources:
    """Where the active scheduler serves: each project's git URL, and the
    artifact server's URL (None: the layout has no repositories)."""
    git: dict[str, str]
    artifacts: str | None = None

    def encode(self) -> bytes:
        return json.dumps({"git": self.git, "artifacts": self.artifacts}, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> "Sources":
        found = json.loads(data or b"{}")
        if not isinstance(found, dict) or not isinstance(found.get("git", {}), dict):
            raise ValueError("the sources node is not a mapping")
        return cls(found.get("git", {}), found.get("artifacts"))


def read_sources(zk) -> Sources:
    """Where the active scheduler serves each project, and its artifacts, now
    (nothing yet: no scheduler has been active)."""
    try:
        data, _ = zk.get(SOURCES)
    except NoNodeError:
        return Sources({})
    return Sources.decode(data)


@dataclass(frozen=True)
class BuildOutcome:
    """How a build ended on an executor; `log` is the end of its log."""
    result: JobResult
    duration: float | None
    error: str | None
    executor: str
    log: bytes = b""

    def encode(self) -> bytes:
        head = json.dumps({"result": self.result.value, "duration": self.duration,
                           "error": self.error, "executor": self.executor}).encode()
        return zlib.compress(head + b"\n" + self.log[-MAX_LOG_BYTES:])

    @classmethod
    def decode(cls, data: bytes) -> "BuildOutcome":
        head, _, log = zlib.decompress(data).partition(b"\n")
        d = json.loads(head)
        return cls(JobResult(d["result"]), d["duration"], d["error"], d["executor"], log)


@dataclass(frozen=True)
class ExecutorInfo:
    """What an executor advertises: how many builds it may run, how many
    run, and where it serves their logs (live_logs.py; None: nowhere)."""
    name: str
    slots: int
    running: int
    logs: str | None = None

    def encode(self) -> bytes:
        return json.dumps({"slots": self.slots, "running": self.running,
                           "logs": self.logs}).encode()

    @classmethod
    def decode(cls, name: str, data: bytes) -> "ExecutorInfo":
        d = json.loads(data)
        return cls(name, int(d["slots"]), int(d["running"]), d.get("logs"))
