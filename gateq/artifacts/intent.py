"""The publication intent: one small file saying which landing is under way
and where its staged snapshots are, written durably before git is asked to
move and removed once the landing's snapshots are published or discarded.
A start that finds it knows a landing was cut short and finishes or rolls
it back (publishing.py).

It lives in the publish root, beside the stagings it names, as
`.gateq-intent-<repository>.json` after the landing's first repository:
every scheduler publishing there sees it, so a standby taking over on
another host settles what its predecessor left (a repository name starts
with a letter or a digit, so no repository, reader, collector or sweep
takes it for one of theirs; a repository belongs to one gate, so two gates
sharing a root never write the same one). Until 2026-12 it was
`<state>/publish-intent.json` (`LEGACY_NAME`), still settled at a start.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Iterable

from ..state.errors import StateError
from .durable import sync_dir, write_file
from .failpoints import Failpoint, failpoint

LEGACY_NAME = "publish-intent.json"       # in the state directory, before 2026-12


def intent_path(publish_root: str, repository: str) -> str:
    """Where the intent of a landing whose first repository is `repository` is."""
    return os.path.join(publish_root, f".gateq-intent-{repository}.json")


def intents_left(publish_root: str, repositories: Iterable[str]) -> list[str]:
    """The intents of these repositories' landings in the root (an intent
    killed while being written counts: only its temporary file is there)."""
    paths = [intent_path(publish_root, repository) for repository in repositories]
    return [p for p in paths if os.path.lexists(p) or os.path.lexists(p + ".tmp")]


@dataclass(frozen=True)
class IntendedSnapshot:
    """A snapshot a landing publishes: `staging` is its temporary name under
    <repository>/snapshots/, `number` the one it takes once git moved."""
    repository: str
    number: int
    staging: str


@dataclass(frozen=True)
class PublishIntent:
    """Item `item` moves `project`'s `branch` to `new`, publishing `snapshots`."""
    item: int
    project: str
    branch: str
    new: str
    snapshots: tuple[IntendedSnapshot, ...]
    time: float = 0.0

    def to_json(self) -> dict:
        return {"item": self.item, "project": self.project, "branch": self.branch,
                "new": self.new, "time": self.time or time.time(),
                "snapshots": [{"repository": s.repository, "number": s.number,
                               "staging": s.staging} for s in self.snapshots]}

    @classmethod
    def from_json(cls, data: dict) -> PublishIntent:
        if "snapshots" in data:
            snapshots = [IntendedSnapshot(s["repository"], int(s["number"]), s["staging"])
                         for s in data["snapshots"]]
        else:       # written before 2026-12: [repository, number, path of the numbered snapshot]
            snapshots = [IntendedSnapshot(repo, int(number), os.path.basename(path))
                         for repo, number, path in data["staged"]]
        return cls(int(data["item"]), data["project"], data["branch"], data["new"],
                   tuple(snapshots), float(data.get("time", 0.0)))


def write_intent(path: str, intent: PublishIntent) -> None:
    """Put `intent` at `path` whole and durably (a reader finds it complete or not at all)."""
    tmp = path + ".tmp"
    write_file(tmp, json.dumps(intent.to_json()).encode())
    failpoint(Failpoint.INTENT_TMP)
    os.rename(tmp, path)
    sync_dir(os.path.dirname(path))


def read_intent(path: str) -> PublishIntent | None:
    """The intent at `path`, None if there is none. Raises StateError (one
    line naming the file) if it cannot be read or understood."""
    try:
        with open(path) as f:
            return PublishIntent.from_json(json.load(f))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"{path}: cannot read the intent of an interrupted landing "
                         f"({type(exc).__name__}: {exc}); remove it, and the next start "
                         "drops what that landing staged and retries it") from None


def clear_intent(path: str) -> None:
    """Remove the intent (and any half-written one), durably."""
    removed = False
    for name in (path, path + ".tmp"):
        try:
            os.unlink(name)
            removed = True
        except FileNotFoundError:
            pass
    if removed:
        sync_dir(os.path.dirname(path))
