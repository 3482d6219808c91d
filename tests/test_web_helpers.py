"""Helpers for the test_web_* modules (no tests here): a gate with a `web:`
section, the web service in this process or inside `gateq serve`, and a
plain HTTP client that shows exactly what a client gets."""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

from gate_fixture import Gate, wait_until
from gateq.config.loader import load_config
from gateq.web.server import WebService

# name -> (token, actions)
TOKENS = {
    "release-bot": ("rb-" + "a" * 40, ["event", "enqueue", "dequeue", "promote"]),
    "triage": ("tr-" + "b" * 40, ["dequeue"]),
}


def bearer(name: str) -> dict:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def add_web(g: Gate, listen: str | None = "127.0.0.1:0", extra: str = "") -> None:
    """Give the gate's gateq.yaml a web section with the TOKENS."""
    lines = ["web:"] + ([f"  listen: '{listen}'"] if listen else []) + ["  tokens:"]
    for name, (token, actions) in TOKENS.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines.append(f"    - {{name: {name}, sha256: '{digest}', actions: [{', '.join(actions)}]}}")
    with open(os.path.join(g.config, "gateq.yaml"), "a") as f:
        f.write("\n".join(lines) + "\n" + extra)


class Client:
    """One request per connection, as a browser or curl would send it."""

    def __init__(self, url: str):
        match = re.match(r"http://([^/:]+):(\d+)/", url)
        self.host, self.port = match.group(1), int(match.group(2))

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        chunked = isinstance(body, tuple)            # sent in chunks, with no Content-Length
        try:
            conn.request(method, path, body=iter(body) if chunked else body,
                         headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return self.request("GET", path, headers=headers)

    def json(self, path: str) -> dict:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def post_json(self, path: str, fields: dict, token: str | None = "release-bot"
                  ) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
        status, _, body = self.request("POST", path, json.dumps(fields).encode(), headers)
        return status, json.loads(body)

    def events(self, path: str, until, timeout: float = 60.0) -> list[tuple[str, str]]:
        """Server-sent events from `path` until `until(events)` is true."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        deadline = time.monotonic() + timeout
        try:
            conn.request("GET", path, headers={"Accept": "text/event-stream"})
            response = conn.getresponse()
            assert response.status == 200, (path, response.status, response.read())
            events, name, data = [], "", []
            while time.monotonic() < deadline:
                line = response.readline().decode()
                if not line:
                    break
                line = line.rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and name:
                    events.append((name, "\n".join(data)))
                    name, data = "", []
                    if until(events):
                        return events
            raise AssertionError(f"{path}: the stream ended or timed out after {events[-3:]}")
        finally:
            conn.close()


@contextlib.contextmanager
def web_service(g: Gate):
    """The web service of the gate's configuration, in this process."""
    service = WebService(load_config(g.config), ("127.0.0.1", 0))
    url = service.start()
    try:
        yield Client(url)
    finally:
        service.stop()


class ServeProcess:
    """`gateq serve` (or `gateq web`, given its arguments) as its own process,
    its web service on a free port."""

    def __init__(self, g: Gate, log_path: str, command: tuple[str, ...] = ("serve",)):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateq.cli", "-c", g.config, *command],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.url = wait_until(self.listening, f"gateq {command[0]}'s web service to listen",
                              timeout=60)
        self.client = Client(self.url)

    def listening(self) -> str | None:
        assert self.proc.poll() is None, f"gateq serve exited: {self.stderr()}"
        found = re.search(r"web service listening on (http://\S+/)", self.stderr())
        return found.group(1) if found else None

    def stderr(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.log.close()
