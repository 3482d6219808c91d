"""The active scheduler's side of artifacts for builds on executors, which
share no filesystem with it: each build's view of the repositories is
made here and sent over HTTP (artifacts_http.py), and an export build's
artifacts/ is uploaded back here before its result is written, then
accepted into the store as builds.py accepts a local one.

Views are asked for from RemoteBuilds.poll and made on threads of their
own (a view of a 5,000-package repository takes 0.1 s), as builds.py makes
local ones: the garbage collector, on the engine's loop, must never run
while a view is being written, so the builds whose view is being made
count as being prepared (`making`); a view being sent is one of its roots
until it is removed, on the loop again. Each build has a random
token, kept in its request node: only its holder may fetch the build's
view or upload its export.
"""
from __future__ import annotations

import hmac
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from ..config.model import Config
from ..core import actions as act
from ..core.types import JobResult
from ..git.workspace import remove_tree

VIEW_THREADS = 2                     # views made at once
NOT_RECEIVED = ("its export was not uploaded to this scheduler (the executor sent it to "
                "the one before?): run again")


class ServedArtifacts:
    """Invariant: `builds` holds (action, token) of every build asked of an
    executor and not yet collected; `sending` the views being sent."""

    def __init__(self, config: Config, artifacts, wake) -> None:
        self.config, self.artifacts, self.wake = config, artifacts, wake
        self.exports_dir = os.path.join(config.state_dir, "remote-exports")
        self.views_dir = os.path.join(config.state_dir, "remote-views")
        self.builds: dict[str, tuple[act.StartBuild, str]] = {}
        self.lock = threading.Lock()         # the loop and the HTTP thread share what follows
        self.asked: list[tuple[act.StartBuild, Future]] = []
        self.sending: set[str] = set()
        self.sent: list[str] = []
        self.in_making: set[str] = set()     # builds whose view a thread is making
        self.makers = ThreadPoolExecutor(VIEW_THREADS, thread_name_prefix="make views")

    # -- on the engine's loop ---------------------------------------------------

    def expect(self, action: act.StartBuild, token: str) -> None:
        with self.lock:
            self.builds[action.build] = (action, token)

    def forget(self, build: str) -> None:
        with self.lock:
            self.builds.pop(build, None)
        remove_tree(self.export_path(build))

    def make_views(self) -> None:
        """Make the views the executors asked for; remove those sent."""
        with self.lock:
            asked, self.asked = self.asked, []
            sent, self.sent = self.sent, []
        for path in sent:
            remove_tree(path)
            with self.lock:
                self.sending.discard(path)
        for action, answer in asked:
            with self.lock:
                self.in_making.add(action.build)
            self.makers.submit(self._make, action, answer)

    def making(self) -> set[str]:
        with self.lock:
            return set(self.in_making)

    def close(self) -> None:
        self.makers.shutdown(wait=True, cancel_futures=True)

    def _make(self, action: act.StartBuild, answer: Future) -> None:
        """On a view thread."""
        try:
            if not answer.set_running_or_notify_cancel():
                return                       # the executor went before it was made
            os.makedirs(self.views_dir, exist_ok=True)
            path = os.path.join(self.views_dir, f"{action.build}-{uuid.uuid4().hex[:8]}")
            with self.lock:
                self.sending.add(path)
            try:
                self.artifacts.prepare_views(path, action.artifacts)
            except (OSError, ValueError) as exc:
                remove_tree(path)
                with self.lock:
                    self.sending.discard(path)
                answer.set_exception(exc)
                return
            answer.set_result(path)
        finally:
            with self.lock:
                self.in_making.discard(action.build)
            self.wake()

    def view_roots(self) -> list[str]:
        with self.lock:
            return sorted(self.sending)

    def check_export(self, action: act.StartBuild, log_path: str
                     ) -> tuple[JobResult, str | None]:
        """On the acceptance lane: the uploaded artifacts/ accepted, as
        Builds.check_export accepts a local one, then removed."""
        path = self.export_path(action.build)
        if not os.path.isdir(path):
            return JobResult.NODE_FAILURE, NOT_RECEIVED
        try:
            rejected = self.artifacts.accept_export(action, path)
        except OSError as exc:
            rejected = f"cannot store the artifacts: {exc}"
        finally:
            remove_tree(path)
        if rejected is None:
            return JobResult.SUCCESS, None
        with open(log_path, "a") as f:
            f.write(f"export rejected: {rejected}\n")
        return JobResult.FAILURE, f"export rejected: {rejected}"

    def remove_leftovers(self) -> None:
        """At the start of a term: what an earlier one here left."""
        remove_tree(self.exports_dir)
        remove_tree(self.views_dir)

    # -- on the HTTP server's thread ----------------------------------------------

    def allowed(self, build: str, token: str) -> act.StartBuild | None:
        """The build's action if `token` is its token."""
        with self.lock:
            found = self.builds.get(build)
        if found is None or not hmac.compare_digest(found[1].encode(), token.encode()):
            return None
        return found[0]

    def asked_for(self, build: str) -> bool:
        with self.lock:
            return build in self.builds

    def exports(self, action: act.StartBuild) -> bool:
        return bool(self.config.layout.jobs[action.job].export)

    def ask_view(self, action: act.StartBuild) -> Future:
        """A future of the directory holding the build's view, made on the loop."""
        answer: Future = Future()
        with self.lock:
            self.asked.append((action, answer))
        self.wake()
        return answer

    def sent_when_made(self, answer: Future) -> None:
        """The view of a request given up while it was being made: removed once made."""
        def made(done: Future) -> None:
            if not done.cancelled() and done.exception() is None:
                self.view_sent(done.result())
        answer.add_done_callback(made)

    def view_sent(self, path: str) -> None:
        with self.lock:
            self.sent.append(path)
        self.wake()

    def export_path(self, build: str) -> str:
        return os.path.join(self.exports_dir, build)
