"""A sweep of bad requests against every endpoint of the web service.

Unsigned, wrongly signed, under-privileged, malformed, oversized, replayed
and wrong-content-type requests: each must get a 4xx whose body is one line
of JSON naming what was wrong, nothing may reach the journal, and the
service must go on serving. (Bytes that are not HTTP at all are answered
by aiohttp's parser before any handler: a 400 in plain text; the last test
checks the status and that the service survives them.)
"""
from __future__ import annotations

import json
import os
import random
import socket
import sqlite3

import pytest

from gate_fixture import Gate
from test_web_helpers import TOKENS, add_web, bearer, web_service

ADMIN = ("/api/event", "/api/enqueue", "/api/dequeue", "/api/promote")
PAGES = ("/status", "/results", "/publication", "/builds/1-0-check",
         "/publication/site/snapshots/1", "/publication/site/diff")
READS = PAGES + tuple("/api" + p for p in PAGES) + (
    "/metrics", "/api/status/events", "/status/events", "/builds/1-0-check/log",
    "/api/builds/1-0-check/log/events")
MAX_BODY = 4096
GOOD = {"/api/event": {"kind": "approved", "project": "nova", "change": "fix-1"},
        **{path: {"pipeline": "gate", "project": "nova", "change": "fix-1"} for path in ADMIN[1:]}}


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    g = Gate(tmp_path_factory.mktemp("web-sweep"))
    add_web(g, extra=f"  max-body: {MAX_BODY}\n")
    g.change("nova", "fix-1")
    g.change("nova", "on-main")
    g.ok("enqueue", "--pipeline", "check", "--project", "nova", "--change", "fix-1")
    return g


def journal(g: Gate) -> list:
    with sqlite3.connect(os.path.join(g.config, "state", "gateq.db")) as db:
        return db.execute("SELECT seq, event FROM journal ORDER BY seq").fetchall()


def json_header(token: str | None = "release-bot") -> dict:
    return {"Content-Type": "application/json", **(bearer(token) if token else {})}


def unsigned_cases(rng: random.Random):
    wrong = ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer nope", "Token " + TOKENS["triage"][0],
             "Bearer " + TOKENS["triage"][0][:-1], "Bearer " + TOKENS["triage"][0] + "x",
             "Bearer " + "x" * 5000, "Bearer \u00e9t\u00e9", "Bearer " + TOKENS["triage"][0].upper()]
    for path in ADMIN:
        body = json.dumps(GOOD[path]).encode()
        yield "POST", path, body, {"Content-Type": "application/json"}, 401
        for header in wrong:
            yield "POST", path, body, {"Content-Type": "application/json",
                                       "Authorization": header.encode("utf-8").decode("latin-1")}, 401
        for _ in range(20):
            token = "".join(rng.choice("abcdef0123456789-_") for _ in range(rng.randrange(1, 80)))
            yield "POST", path, body, {"Content-Type": "application/json",
                                       "Authorization": f"Bearer {token}"}, 401
        if path != "/api/dequeue":
            yield "POST", path, body, json_header("triage"), 403


def content_type_cases():
    types = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
             "application/xml", "application/json-seq", "text/json", "application/jsonx", ""]
    for path in ADMIN:
        body = json.dumps(GOOD[path]).encode()
        for kind in types:
            headers = {**bearer("release-bot"), **({"Content-Type": kind} if kind is not None else {})}
            yield "POST", path, body, headers, 415


def malformed_bodies(rng: random.Random):
    fixed = [b"", b"{", b"}", b"[]", b"null", b"42", b'"text"', b"{'kind': 'approved'}",
             b'{"kind": "approved", "kind": "proposed", "project": "nova", "change": "fix-1"}',
             b'{"project": NaN}', b'{"project": Infinity}', b"\xff\xfe{}", b'{"a": 1} trailing',
             b"\x00" * 10, b'{"project": "nova"', b"{" * 2000 + b"}" * 2000]
    for body in fixed:
        yield body
    for _ in range(25):
        good = json.dumps(GOOD["/api/enqueue"]).encode()
        cut = rng.randrange(1, len(good) - 1)
        yield good[:cut]
        yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))


def bad_fields(path: str):
    good = GOOD[path]
    yield {}
    for key in good:
        yield {k: v for k, v in good.items() if k != key}                       # missing
        for value in (None, 1, 1.5, True, [], {}, "", "x" * 1001, "a\x00b", "\ud800"):
            yield {**good, key: value}
    yield {**good, "extra": "field"}
    yield {**good, "project": "nope"}
    yield {**good, "change": "no-such-ref"}
    yield {**good, "change": "on-main", "branch": "no-such-branch"}
    if "pipeline" in good:
        yield {**good, "pipeline": "nope"}
    if path == "/api/event":
        yield {**good, "kind": "merged"}
    if path == "/api/promote":
        yield {**good, "pipeline": "check"}                  # independent: no order
    if path == "/api/dequeue":
        yield {**good, "pipeline": "gate"}                   # not queued there


def body_cases(rng: random.Random):
    for path in ADMIN:
        for body in malformed_bodies(rng):
            yield "POST", path, body, json_header(), 400
        for fields in bad_fields(path):
            yield "POST", path, json.dumps(fields).encode(), json_header(), 400
        big = json.dumps({**GOOD[path], "pad": "x" * MAX_BODY}).encode()
        yield "POST", path, big, json_header(), 413
        yield "POST", path, b"x" * 10, {**json_header(), "Content-Length": str(10**12)}, 413
        yield "POST", path, (b" " * 1024,) * 5 + (big,), json_header(), 413    # chunked, no length


def read_cases(rng: random.Random):
    queries = ["?x=1", "?page=0", "?page=-1", "?page=abc", "?page=1&page=2", "?per-page=100000",
               "?result=won", "?project=%00", "?change=" + "a" * 1100, "?offset=-3", "?offset=x",
               "?from=1", "?to=2", "?from=a&to=b", "?from=1&to=99999999999", "?%ff=1",
               "?project=%ed%b3%bf", "?project=%c3"]
    for path in READS:
        for query in queries:
            yield "GET", path + query, None, {}, None          # 400, or 404 where nothing is there
        yield "POST", path, b"{}", json_header(), 405
        yield "DELETE", path, None, {}, 405
    for build in ("nope", "1-0-", "-1-0-check", "1-0-check/../../x", "99999999999999-0-check",
                  "1-0-" + "j" * 200, "1-0-che%00ck", "1-0-che%20ck", "%2e%2e"):
        for path in ("/builds/", "/api/builds/"):
            yield "GET", path + build, None, {}, 404
        yield "GET", f"/api/builds/{build}/log/events", None, {}, 404
    for path in ("/nope", "/api/nope", "/static/../gateq.yaml", "/static/nope.js",
                 "/api/publication/site/snapshots/x", "/api/publication/nope/snapshots/1",
                 "/api/publication/site/snapshots/99999999999", "/api/connections/distgit/paylod"):
        yield "GET", path, None, {}, 404
    for path in ADMIN:
        yield "GET", path, None, {}, 405
        yield "PUT", path, b"{}", json_header(), 405


def webhook_cases(rng: random.Random):
    """No forge connection is configured: every delivery is refused, whatever it carries."""
    signatures = [{}, {"X-Hub-Signature-256": "sha256=" + "0" * 64},
                  {"X-Gitea-Signature": "00"}, {"X-Gitlab-Token": "secret"},
                  {"X-GitHub-Delivery": "1", "X-Hub-Signature-256": "sha256=zz"}]
    for name in ("distgit", "github", "nope", "x" * 300, "%00", "a.b"):
        for headers in signatures:
            for body in (b"{}", b"not json", b"x" * (MAX_BODY + 1)):
                yield "POST", f"/api/connections/{name}/payload", body, \
                    {"Content-Type": rng.choice(["application/json", "text/plain"]), **headers}, None


def all_cases():
    rng = random.Random(12)
    cases = [*unsigned_cases(rng), *content_type_cases(), *body_cases(rng), *read_cases(rng),
             *webhook_cases(rng)]
    # Replayed: every refused admin request sent a second time is refused again.
    cases += [case for case in cases if case[1] in ADMIN][::3]
    return cases


def test_a_thousand_bad_requests_each_get_a_one_line_json_4xx(gate):
    cases = all_cases()
    assert len(cases) >= 1000
    before = journal(gate)
    with web_service(gate) as web:
        for method, path, body, headers, expected in cases:
            status, got, answer = web.request(method, path, body, headers)
            case = (method, path, body if isinstance(body, tuple) else (body or b"")[:80],
                    headers, status, answer[:200])
            assert 400 <= status < 500, case
            assert expected is None or status == expected, case
            assert got["Content-Type"].startswith("application/json"), case
            assert answer.endswith(b"\n") and answer.count(b"\n") == 1, case
            error = json.loads(answer)["error"]
            assert isinstance(error, str) and error.strip(), case
            if status == 401:
                assert got.get("WWW-Authenticate") == 'Bearer realm="gateq"', case
        assert web.get("/api/status")[0] == 200
        assert journal(gate) == before                         # nothing recorded
        status, answer = web.post_json("/api/enqueue", GOOD["/api/enqueue"])
        assert status == 200, answer                           # and it still records
    assert len(journal(gate)) == len(before) + 1


def test_what_is_not_http_gets_a_400_and_the_service_goes_on(gate):
    with web_service(gate) as web:
        for raw in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/9.9\r\n\r\n", b"GET /status HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                    b"POST /api/event HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"):
            with socket.create_connection((web.host, web.port), timeout=10) as conn:
                conn.sendall(raw)
                answer = conn.recv(4096)
            assert answer.split(b" ")[1].startswith(b"4"), (raw[:40], answer[:200])
        assert web.get("/api/status")[0] == 200
