"""Builds that ended, journaled once their exports are accepted.

Accepting an export copies and hashes its files into the artifact store
(builds.py `check_export`): seconds for a large package, so it runs on a
lane of its own, one build at a time, and the garbage collector waits while
one is under way (`busy`).
"""
from __future__ import annotations

import logging
from typing import Callable

from .core.events import BuildCompleted, Event
from .executor import Finished
from .workers import Answer, Inbox, Lane

log = logging.getLogger("gateq.engine")


class Acceptances:
    def __init__(self, builds, inbox: Inbox, record: Callable[[Event], None],
                 clock: Callable[[], float]) -> None:
        self.builds, self.record, self.clock = builds, record, clock
        self.lane = Lane("accept exports", inbox)

    @property
    def busy(self) -> int:
        return self.lane.busy

    def submit(self, finished: Finished) -> None:
        if finished.error:
            log.warning("build %s: %s", finished.build, finished.error)
        self.lane.submit(lambda: self.accept(finished))

    def stop(self, timeout: float) -> None:
        self.lane.stop(timeout)

    def accept(self, finished: Finished) -> Answer:
        """On the lane: the answer journals the build's end."""
        result, detail = self.builds.check_export(finished.build, finished.result)
        event = BuildCompleted(self.clock(), finished.build, result, detail or finished.error,
                               finished.duration)

        def answer() -> None:
            self.record(event)
            self.builds.finished(finished.build)
        return answer
