"""The stand-in's site: its state, repositories, event bus and test knobs,
behind one lock. Every change to the state happens in `site.changing()`,
which saves the state when the block ends."""
from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field

from . import model
from .bus import EventBus
from .model import Change, State


class Refused(Exception):
    """A request the stand-in refuses, as Gerrit would; one line."""


@dataclass
class Knobs:
    """Misbehaviour tests switch on: commands held before they run (by
    command prefix, or by a regular expression searched in the command
    line, in seconds) and SSH connections refused."""
    hold: dict[str, float] = field(default_factory=dict)
    hold_matching: dict[str, float] = field(default_factory=dict)
    refuse_connections: bool = False


class Site:
    def __init__(self, root: str) -> None:
        self.root = root
        self.state_path = os.path.join(root, "state.json")
        self.state = model.load(self.state_path) if os.path.exists(self.state_path) else State()
        self.lock = threading.RLock()
        self.bus = EventBus()
        self.knobs = Knobs()
        self.project_locks: dict[str, threading.Lock] = {}
        self.count_connections = lambda: 0          # set by the SSH server
        self._depth = 0

    @contextlib.contextmanager
    def changing(self):
        """Saves when the outermost block ends, so a batch saves once."""
        with self.lock:
            self._depth += 1
            try:
                yield self.state
            finally:
                self._depth -= 1
            if self._depth == 0:
                model.save(self.state, self.state_path)

    def project_lock(self, project: str) -> threading.Lock:
        """Held while a project's branches move (a push, a submit), so the
        branch tips seen before and after belong to that one update."""
        with self.lock:
            return self.project_locks.setdefault(project, threading.Lock())

    def repo(self, project: str) -> str:
        return os.path.join(self.root, "git", project + ".git")

    def change(self, number: int) -> Change:
        found = self.state.changes.get(number)
        if found is None:
            raise Refused(f"change {number} not found")
        return found

    def touch(self, change: Change) -> None:
        change.updated_on = now()
        change.updated_seq = self.state.tick()

    def held_for(self, command_line: str) -> float:
        by_prefix = (seconds for prefix, seconds in self.knobs.hold.items()
                     if command_line.startswith(prefix))
        by_pattern = (seconds for pattern, seconds in self.knobs.hold_matching.items()
                      if re.search(pattern, command_line))
        return max([*by_prefix, *by_pattern], default=0.0)


def now() -> int:
    return int(time.time())
