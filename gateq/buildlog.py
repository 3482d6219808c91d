"""A build's log: its output copied from a pipe by a thread of its own, up to a size limit.

One small thread per build reads the pipe the job writes to and appends to
the log, so the engine loop never waits on a slow disk or a chatty job, and
a disk problem on one log holds up no other build. Past the limit the
output is read and dropped: the job runs on at full speed and the log says
where it was cut. A write that fails (a full disk) never stops the build:
what could not be written is counted, said in the log once writing works
again, and reported in `BuildLog.error`. The same thread notes the moment
the job's process exits (through a pidfd), so a build's duration is its own
and not the engine's polling delay.
"""
from __future__ import annotations

import fcntl
import os
import selectors
import threading
from datetime import datetime, timezone
from typing import Callable

DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024
PIPE_SIZE = 1024 * 1024        # fewer, larger reads when a job writes fast


class BuildLog:
    """A log file opened for appending. Writes never raise: a failed write
    is counted as lost, and the next write that succeeds first says so."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._lost = 0          # bytes not written since the last successful write
        self._lost_total = 0
        self._reason: str | None = None

    def write(self, data: bytes) -> None:
        if self._lost and not self._put(
                f"\n=== {self._lost} bytes of this log were lost: {self._reason} ===\n".encode()):
            self._lose(len(data))
            return
        self._lost = 0
        self._put(data)

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError as exc:      # NFS may report a failed write only here
            self._reason = self._reason or exc.strerror
            self._lost_total = self._lost_total or 1

    @property
    def error(self) -> str | None:
        """Why the log is incomplete, if it is."""
        if not self._lost_total:
            return None
        return f"{self._lost_total} bytes of {self.path} could not be written: {self._reason}"

    def _put(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except OSError as exc:
                self._reason = exc.strerror
                self._lose(len(view))
                return False
        return True

    def _lose(self, count: int) -> None:
        self._lost += count
        self._lost_total += count


def open_log(path: str, build: str) -> BuildLog:
    """Open the build log and write its header line; raises OSError only if
    the file cannot be opened at all."""
    log = BuildLog(path)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log.write(f"=== build {build} started {stamp} ===\n".encode())
    return log


def output_pipe() -> tuple[int, int]:
    """(read end, write end) for a job's stdout and stderr."""
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass                # over this user's pipe buffer quota: the default size works
    os.set_blocking(read_end, False)
    return read_end, write_end


class OutputPump:
    """Copies one build's output into its log until `finish` is called, then
    writes the log's last line and closes it.

    Invariant: after `start`, only this thread touches the log, the pipe and
    the pidfd, and it closes all three.
    `exited_at` is set (by `clock`) once the job's process has exited, and
    `wake` is set whenever that or `done` happens, so the engine loop wakes.
    """

    def __init__(self, log: BuildLog, pipe: int, pidfd: int | None, limit: int,
                 clock: Callable[[], float], wake: threading.Event) -> None:
        self.log = log
        self.exited_at: float | None = None
        self.done = threading.Event()
        self._pipe, self._pidfd, self._limit = pipe, pidfd, limit
        self._clock, self._wake = clock, wake
        self._kept = self._dropped = 0
        self._at_line_start = True      # the last byte kept was a newline
        self._footer: bytes | None = None
        self._listening = self._open = True
        self._finish_r, self._finish_w = os.pipe()
        self._buffer = bytearray(PIPE_SIZE)
        self._thread = threading.Thread(target=self._run, name=f"log {log.path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, footer: str) -> None:
        """Copy what the pipe still holds, append `footer` and close the log.
        Called once every writer of the pipe is dead: a writer we could not
        find keeps it open, so the pipe is read until empty, not until EOF."""
        if self._footer is None:
            self._footer = footer.encode()
            os.write(self._finish_w, b"x")

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._pipe, selectors.EVENT_READ, self._copy)
            selector.register(self._finish_r, selectors.EVENT_READ, self._stop)
            if self._pidfd is not None:
                selector.register(self._pidfd, selectors.EVENT_READ, self._note_exit)
            while self._listening:
                for key, _ in selector.select():
                    if not key.data():
                        selector.unregister(key.fd)
        self._copy_rest()
        self._close()

    def _copy(self) -> bool:
        """Move one read's worth to the log; False once the pipe is at EOF."""
        data = self._read()
        if data:
            self._keep(data)
        return data != b""

    def _copy_rest(self) -> None:
        """What the pipe holds now, without waiting for writers we could not find."""
        if self._open:
            while data := self._read():
                self._keep(data)

    def _read(self) -> memoryview | bytes | None:
        """One read into the pump's buffer (no allocation per read, which
        halves the cost of a fast job): data, b"" at EOF, or None if the
        pipe is empty for now. The data is valid until the next read."""
        try:
            count = os.readv(self._pipe, [self._buffer])
        except BlockingIOError:
            return None
        except OSError as exc:           # cannot happen on a pipe; treat as its end
            self.log.write(f"=== reading the output failed: {exc.strerror} ===\n".encode())
            count = 0
        self._open = count > 0
        return memoryview(self._buffer)[:count] if count else b""

    def _keep(self, data: memoryview) -> None:
        room = self._limit - self._kept
        if room > 0:
            kept = data[:room]
            self.log.write(kept)
            self._kept += len(kept)
            self._at_line_start = kept[-1:] == b"\n"
        if len(data) > room:
            if not self._dropped:
                self.log.write(("" if self._at_line_start else "\n").encode()
                               + f"=== output cut at {self._limit} bytes: the job wrote more, "
                                 f"which is not kept ===\n".encode())
            self._dropped += len(data) - max(room, 0)

    def _stop(self) -> bool:
        self._listening = False
        return False

    def _note_exit(self) -> bool:
        self.exited_at = self._clock()
        self._wake.set()
        return False

    def _close(self) -> None:
        if self._dropped:
            self.log.write(f"=== {self._dropped} more bytes of output were not kept ===\n".encode())
        self.log.write(self._footer or b"")
        self.log.close()
        for fd in (self._pipe, self._pidfd, self._finish_r, self._finish_w):
            if fd is not None:
                os.close(fd)
        self.done.set()
        self._wake.set()
