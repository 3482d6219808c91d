"""A build's page: where it is, what it was tested on, its log and artifacts.

A build is found in the status snapshot while its item is queued, else in
the results. Its speculative chain and commits come from the scheduler
(live.py) while the item is queued; results keep neither, so a finished
build shows its item's outcome instead. Its artifacts are the set the
store kept for it, and the published snapshots that hold files it built.
"""
from __future__ import annotations

import json
import os
import re
import urllib.parse
from typing import Sequence

from ..artifacts.model import ArtifactSet
from ..config.model import Config
from . import estimates
from .reader import Unavailable

BUILD_ID = re.compile(r"([0-9]{1,12})-([0-9]{1,9})-([A-Za-z0-9][A-Za-z0-9._-]{0,99})\Z")
LOG_SHOWN = 1 << 20            # the page shows at most the last MiB; the raw log has it all


def parse_build_id(build: str) -> tuple[int, int, str] | None:
    match = BUILD_ID.match(build)
    return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None


def find_live(status: dict, build: str) -> tuple[dict, dict, dict] | None:
    """(pipeline, item, job) of a build the snapshot holds."""
    for pipeline in status.get("pipelines", ()):
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                for job in item["jobs"]:
                    if job["build"] == build:
                        return pipeline, item, job
    return None


def find_item(status: dict, item_id: int) -> tuple[dict, dict] | None:
    for pipeline in status.get("pipelines", ()):
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                if item["item"] == item_id:
                    return pipeline, item
    return None


def find_finished(results: Sequence[dict], build: str) -> tuple[dict, dict] | None:
    for record in reversed(results):
        for job in record["jobs"]:
            if job.get("build") == build:
                return record, job
    return None


def log_path(config: Config, build: str) -> str:
    return os.path.join(config.state_dir, "logs", f"{build}.log")


SHARED_LOGS = "shared-logs"     # STATE/shared-logs: logs read from ZooKeeper, kept for reading
SHARED_KEPT = 200               # ... the newest of them


def log_file(config: Config, reader, build: str) -> str:
    """The file to read the build's log from: this host's log if it ran
    the build, else (ZooKeeper) the end of the log its host kept there,
    copied once to STATE/shared-logs (a finished log does not change); the
    local path, missing, when there is neither (not finished yet)."""
    local = log_path(config, build)
    if os.path.isfile(local) or reader.shared is None:
        return local
    copy = os.path.join(config.state_dir, SHARED_LOGS, f"{build}.log")
    if os.path.isfile(copy):
        return copy
    try:
        data = reader.with_store(lambda store: store.build_log(build))
    except Unavailable:
        data = None                           # ZooKeeper not answering: as if not there yet
    if data is None:
        return local
    os.makedirs(os.path.dirname(copy), exist_ok=True)
    tmp = f"{copy}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, copy)
    forget_old_copies(os.path.dirname(copy))
    return copy


def forget_old_copies(directory: str, keep: int = SHARED_KEPT) -> None:
    names = [n for n in os.listdir(directory) if n.endswith(".log")]
    for name in sorted(names, key=lambda n: os.path.getmtime(os.path.join(directory, n)))[:-keep]:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def runs_where(reader, build: str) -> str | None:
    """Where a build not finished yet runs, for a web on another host
    (ZooKeeper): "executor HOST:PID" holding its claim, else "scheduler
    HOST:PID", the active one."""
    if reader.shared is None:
        return None
    try:
        executor = reader.with_store(lambda store: store.build_runner(build))
        found = [] if executor else reader.with_store(lambda store: store.schedulers())
    except Unavailable:
        return None
    if executor:
        return f"executor {executor}"
    return f"scheduler {found[0]}" if found else None


def remote_log(reader, build: str) -> str | None:
    """For a web on another host (ZooKeeper): the URL where the executor
    running the build serves its log as it grows (zk/live_logs.py)."""
    if reader.shared is None:
        return None
    try:
        return reader.with_store(lambda store: store.build_log_url(build))
    except Unavailable:
        return None


def read_remote_tail(url: str, limit: int = LOG_SHOWN) -> tuple[str, int, int] | None:
    """As read_log_tail, from an executor's log server; None if it does not answer."""
    from ..zk.live_logs import fetch_tail
    found = fetch_tail(url, limit)
    if found is None:
        return None
    data, start, _ = found
    return data.decode("utf-8", "replace"), start, start + len(data)


def read_log_tail(path: str, limit: int = LOG_SHOWN) -> tuple[str, int, int]:
    """(text, where it starts, size) of the log's last `limit` bytes."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - limit)
            f.seek(start)
            data = f.read(size - start)
    except FileNotFoundError:
        return "", 0, 0
    return data.decode("utf-8", "replace"), start, start + len(data)


def exported(config: Config, build: str) -> list[dict]:
    """The files the build exported, as the artifact store kept them."""
    path = os.path.join(config.state_dir, "cas", "sets",
                        urllib.parse.quote(build, safe="") + ".json")
    try:
        with open(path) as f:
            artifact_set = ArtifactSet.from_json(json.load(f))
    except (FileNotFoundError, ValueError, KeyError):
        return []
    return [a.entry.to_json() for a in artifact_set.artifacts()]


def published_in(config: Config, build: str) -> tuple[list[dict], list[dict]]:
    """Snapshots on disk holding files this build exported, and those files
    as the oldest of them records them (the one its landing published, if
    still kept; once landed, the store may have collected the build's set)."""
    from .publication import publisher, read_manifest
    found, files = [], []
    for repository in config.layout.repositories:
        pub = publisher(config, repository)
        for number in pub.numbers():
            manifest = read_manifest(pub, number) or {}
            mine = [a for a in manifest.get("artifacts", ()) if a.get("build") == build]
            if mine:
                found.append({"repository": repository, "snapshot": number})
                files = files or [{k: v for k, v in a.items() if k not in ("build", "job", "change")}
                                  for a in mine]
    return found, files


def job_summary(job: dict, now: float, typical: float | None) -> dict:
    return {"state": job.get("state") or job.get("result"), "started_at": job.get("started_at"),
            "finished_at": job.get("finished_at"), "duration": job.get("duration"),
            "elapsed": estimates.elapsed({**job, "state": job.get("state") or job.get("result")}, now),
            "estimate": typical}
