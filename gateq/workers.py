"""Work the gate loop must not wait for, done on threads of its own.

A Gerrit push or submit can take a minute, a query to a review system a
few seconds: the loop hands such calls to a Lane (one thread, jobs in the
order given), a Pool (several threads on one queue: the workspaces of
builds) or Lanes (a Lane per key: the merges of each repository) and goes
on deciding. A job's answer comes back as a function
posted to the Inbox, which the loop runs (only the loop journals and
steps the scheduler, and SQLite connections stay in their thread). A job
that raises posts the exception, raised again on the loop: the engine's
crash edge says what went wrong, and the journal keeps everything.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Callable

Answer = Callable[[], None]


class Inbox:
    """Answers for the loop, in the order they came."""

    def __init__(self) -> None:
        self._answers: "queue.SimpleQueue[Answer]" = queue.SimpleQueue()
        self.ready = threading.Event()

    def post(self, answer: Answer) -> None:
        self._answers.put(answer)
        self.ready.set()

    def take(self) -> list[Answer]:
        self.ready.clear()
        found = []
        while True:
            try:
                found.append(self._answers.get_nowait())
            except queue.Empty:
                return found


Job = Callable[[], Answer]


class Pool:
    """`size` threads taking jobs from one queue, in the order given; a job
    that takes long holds up only its own thread. `busy` counts the jobs
    given and not yet answered. Threads start as they are first needed."""

    def __init__(self, name: str, inbox: Inbox, size: int = 1) -> None:
        self.name, self.inbox, self.size = name, inbox, max(1, size)
        self._jobs: "queue.SimpleQueue[Job | None]" = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def submit(self, job: Job) -> None:
        """Run `job` on a thread of the pool; what it returns is posted for the loop."""
        with self._lock:
            self._busy += 1
            if len(self._threads) < min(self.size, self._busy):
                thread = threading.Thread(target=self._serve, daemon=True,
                                          name=f"{self.name} {len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                answer = job()
            except BaseException as exc:       # raised again on the loop, at the edge
                answer = _raiser(exc)
            self.inbox.post(self._done(answer))

    def _done(self, answer: Answer) -> Answer:
        def done() -> None:
            with self._lock:
                self._busy -= 1
            answer()
        return done

    def stop(self, timeout: float) -> None:
        """Let the jobs under way end (their own timeouts bound them), then stop."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout)


class Lane(Pool):
    """One thread: its jobs are done one at a time, in the order given."""

    def __init__(self, name: str, inbox: Inbox) -> None:
        super().__init__(name, inbox, 1)


class Lanes:
    """A Lane per key, made as first needed: the jobs of one key are done in
    the order given, and a slow one holds up only its own key (the merges
    of one repository)."""

    def __init__(self, name: str, inbox: Inbox) -> None:
        self.name, self.inbox = name, inbox
        self._lanes: dict[str, Lane] = {}

    @property
    def busy(self) -> int:
        return sum(lane.busy for lane in list(self._lanes.values()))

    def submit(self, key: str, job: Job) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(f"{self.name} {key}", self.inbox)
        lane.submit(job)

    def stop(self, timeout: float) -> None:
        for lane in list(self._lanes.values()):
            lane.stop(timeout)


class LoopThread:
    """An asyncio loop on a thread of its own, for a server (aiohttp) that
    must never hold up the gate loop: `run` hands it a coroutine and waits
    for its result; `close` stops the loop and lets the thread end."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self, coroutine, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


def wait_until_ready(ready: Callable[[], bool], step: Callable[[float], None],
                     timeout: float) -> None:
    """Until `ready()` or `timeout`, in steps of an executor's wait (which
    returns early when one of its builds may have ended: then so does this)."""
    end = time.monotonic() + timeout
    while not ready():
        left = end - time.monotonic()
        if left <= 0:
            return
        began = time.monotonic()
        step(min(left, 0.02))
        if time.monotonic() - began < 0.005:     # the executor has something: look now
            return


def _raiser(exc: BaseException) -> Answer:
    def answer() -> None:
        raise exc
    return answer
