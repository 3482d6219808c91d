"""One engine per state directory: an exclusive flock on <state>/engine.lock,
let go by the kernel when the process dies, so a SIGKILL leaves nothing to
clean up."""
from __future__ import annotations

import fcntl
import os


class EngineBusy(Exception):
    """Another engine holds this state directory."""


class StateDirLock:
    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def take(self) -> None:
        """Raises EngineBusy when another process holds it."""
        f = open(os.path.join(self.state_dir, "engine.lock"), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise EngineBusy(f"another gateq engine is running on {self.state_dir}") from None
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
