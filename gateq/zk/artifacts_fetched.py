"""An executor's side of artifacts (the scheduler's is artifacts_served.py):
`FetchedArtifacts` is what builds.py's Builds sees as its `artifacts`.
A build's view is fetched over HTTP on a fetch thread, with its commits,
into <state>/executor-views, and `prepare_views` (on the loop) only moves
it into the workspace; an export build's artifacts/ is uploaded before
its result is written, so that the scheduler reading the result has it.
"""
from __future__ import annotations

import http.client
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable

from kazoo.exceptions import KazooException

from ..git.workspace import remove_tree
from .artifacts_tar import BUFFER, MAX_EXPORT_BYTES, extract, write_export
from .buildboard import TOKEN_HEADER

TIMEOUT = 120.0              # seconds without a byte before a transfer fails
UPLOAD_PATIENCE = 30.0       # seconds an export's upload is tried again (a scheduler taking over)


class ExportRefused(Exception):
    """The scheduler refused the artifacts for what they are (too large, a
    tar it will not unpack): the change's fault. One line."""


class FetchedArtifacts:
    """Invariant: `fetched` maps the $GATEQ_REPOS of a build about to start
    to the view fetched for it."""

    def __init__(self, state_dir: str, workspace_dir: Callable[[str], str]) -> None:
        self.root = os.path.join(state_dir, "executor-views")
        self.workspace_dir = workspace_dir
        self.fetched: dict[str, str] = {}
        self.lock = threading.Lock()

    def fetch_view(self, url: str, build: str, token: str) -> None:
        """On a fetch thread: the build's view, unpacked aside (OSError if not)."""
        staging = os.path.join(self.root, build)
        remove_tree(staging)
        os.makedirs(self.root, exist_ok=True)
        request = urllib.request.Request(f"{url}/views/{build}", headers={TOKEN_HEADER: token})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                extract(response, staging)
                while response.read(1024 * 1024):    # the tar's padding, the stream's end
                    pass
        except urllib.error.HTTPError as exc:
            raise OSError(f"the view of build {build}: HTTP {exc.code}: {_said(exc)}") from None
        except urllib.error.URLError as exc:
            raise OSError(f"the view of build {build}: {exc.reason}") from None
        with self.lock:
            self.fetched[self._views_of(build)] = staging

    def prepare_views(self, dest: str, visible) -> None:
        """Builds.views: the view fetched for this build, moved in place."""
        with self.lock:
            staging = self.fetched.pop(dest, None)
        if staging is None:
            raise OSError(f"no view was fetched for {dest}")
        os.rename(staging, dest)

    def discard(self, build: str) -> None:
        """A build that will not start: the view fetched for it goes."""
        with self.lock:
            staging = self.fetched.pop(self._views_of(build), None)
        if staging:
            remove_tree(staging)

    def remove_leftovers(self) -> None:
        remove_tree(self.root)

    def upload_patiently(self, server: Callable[[], str | None], build: str, token: str,
                         artifacts_dir: str) -> None:
        """To the artifact server the sources name now (`server()`): one
        taking over may not serve yet, or not know the build before it has
        replayed the journal."""
        deadline = time.monotonic() + UPLOAD_PATIENCE
        while True:
            try:
                url = server()
                if url is None:
                    raise OSError("the active scheduler serves no artifacts")
                self.upload_export(url, build, token, artifacts_dir)
                return
            except (OSError, KazooException):
                if time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def upload_export(self, url: str, build: str, token: str, artifacts_dir: str) -> None:
        """Off the loop: artifacts/ sent as a tar. ExportRefused if the
        scheduler will not have them; OSError if it could not be reached."""
        os.makedirs(self.root, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.root) as body:
            write_export(artifacts_dir, body)
            size = body.tell()
            if size > MAX_EXPORT_BYTES:
                raise ExportRefused(f"the artifacts are larger than {MAX_EXPORT_BYTES} bytes")
            body.seek(0)
            status, said = _put(f"{url}/exports/{build}", body, {
                TOKEN_HEADER: token, "Content-Length": str(size),
                "Content-Type": "application/x-tar"})
        if status in (413, 422):
            raise ExportRefused(said)
        if status >= 300:
            raise OSError(f"HTTP {status}: {said}")

    def _views_of(self, build: str) -> str:
        return os.path.join(self.workspace_dir(build), "repos")


def _put(url: str, body, headers: dict[str, str]) -> tuple[int, str]:
    """(status, the server's first line); http.client, not urllib, for
    its block size (urllib's 8 KiB made a 1 GB upload a million sends)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT,
                                            blocksize=BUFFER)
    try:
        connection.request("PUT", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        lines = response.read(2000).decode(errors="replace").strip().splitlines()
        return response.status, lines[0] if lines else response.reason
    except (http.client.HTTPException, OSError) as exc:
        raise OSError(str(exc) or type(exc).__name__) from None
    finally:
        connection.close()


def _said(exc: urllib.error.HTTPError) -> str:
    """The server's one line."""
    try:
        return exc.read(2000).decode(errors="replace").strip().splitlines()[0]
    except (OSError, IndexError):
        return exc.reason
