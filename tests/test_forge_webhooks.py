"""Forge webhooks through the real web service: deliveries signed as
GitHub, Gitea, Forgejo and GitLab sign them are recorded as review events
in the state's intake table (where the engine takes them up); unsigned,
wrongly signed, replayed, oversized, malformed and wrongly typed ones get
a 4xx with one line of JSON and record nothing, also after a restart."""
from __future__ import annotations

import json
import os
import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from forge.config import add_forge
from forge.hooks import (SECRET, approval_hook, comment_hook, delivery, headers_for, pull_hook,
                         signature_headers)
from forge.standin import ForgeStandIn
from gate_fixture import Gate
from gateq.drivers.records import ReviewEvent, ReviewEventKind, Vote
from test_web_helpers import add_web, web_service

K = ReviewEventKind
PROJECT = "rpms/nova"
PAYLOAD = "/api/connections/forge/payload"
FLAVOURS = ("github", "gitea", "forgejo", "gitlab")


@pytest.fixture(params=FLAVOURS)
def setup(request, tmp_path):
    flavour = request.param
    with ForgeStandIn(tmp_path / "forge", "gitea" if flavour == "forgejo" else flavour) as forge:
        forge.make_project(PROJECT)
        g = Gate(tmp_path / "gate")
        add_web(g)
        add_forge(g, flavour, forge.url, forge.git_url)
        yield g, forge, flavour


def recorded(g: Gate) -> list[ReviewEvent]:
    path = os.path.join(g.config, "state", "gateq.db")
    if not os.path.exists(path):
        return []
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'intake'").fetchone():
            return []
        rows = db.execute("SELECT connection, event FROM intake ORDER BY id").fetchall()
    assert {c for c, _ in rows} <= {"forge"}
    return [ReviewEvent.from_dict(json.loads(e)) for _, e in rows]


def post(web, body: bytes, headers: dict) -> tuple[int, dict]:
    status, _, answer = web.request("POST", PAYLOAD, body, headers)
    assert answer.endswith(b"\n") and answer.count(b"\n") == 1 or status == 200, answer
    return status, json.loads(answer)


def test_signed_deliveries_are_recorded_as_review_events(setup):
    g, forge, flavour = setup
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
    head = forge.head(PROJECT, number)
    with web_service(g) as web:
        for event, payload in (pull_hook(forge, PROJECT, number, "opened"),
                               pull_hook(forge, PROJECT, number, "labeled", label="gate"),
                               comment_hook(forge, PROJECT, number, "recheck"),
                               approval_hook(forge, PROJECT, number)):
            status, answer = post(web, *delivery(flavour, event, payload))
            assert status == 200 and answer["event"] == event, answer
        ping = delivery(flavour, "ping" if flavour != "gitlab" else "System Hook", {"zen": "hi"})
        assert post(web, *ping)[1]["recorded"] == []
    events = recorded(g)
    assert [(e.kind, e.project, e.change.number) for e in events] == [
        (K.PROPOSED, PROJECT, number), (K.APPROVED, PROJECT, number),
        (K.COMMENT, PROJECT, number), (K.APPROVED, PROJECT, number)]
    opened, labeled, comment, approval = events
    assert (opened.branch, opened.change.revision, opened.change.ref) == (
        "main", head, forge.head_ref(number))
    assert opened.change.url == forge.web_url(PROJECT, number)
    assert labeled.approvals == (Vote("label:gate", 1, 0, "alice"),)
    assert (comment.comment, comment.change.revision) == ("recheck", None)   # prepare() asks
    assert [v.label for v in approval.approvals] == ["review:approved"]


def test_refused_deliveries_record_nothing(setup):
    g, forge, flavour = setup
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a")
    event, payload = pull_hook(forge, PROJECT, number, "opened")
    body, headers = delivery(flavour, event, payload, delivery_id="d-1")
    _, wrong = delivery(flavour, event, payload, secret="not the secret", delivery_id="d-1")
    sign_header = next(h for h in headers if "Signature" in h or "Token" in h)
    big = {**payload, "padding": "x" * 70_000}                 # past web.max-body (64 KiB)
    cases = [
        ("unsigned", body, {k: v for k, v in headers.items() if k != sign_header}, 401),
        ("wrongly signed", body, wrong, 401),
        ("changed after signing", body.replace(b'"Add a"', b'"Add b"'), headers, 401),
        ("form encoded", body, {**headers, "Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("no content type", body, {k: v for k, v in headers.items() if k != "Content-Type"}, 415),
        ("no delivery id", *_without_id(flavour, event, payload), 400),
        ("not JSON", *delivery_raw(flavour, event, b"{not json"), 400),
        ("not an object", *delivery_raw(flavour, event, b"[1, 2]"), 400),
        ("wrong shape", *delivery_raw(flavour, event, json.dumps(
            {"action": "opened", "object_attributes": 1, "project": 2}).encode()), 400),
        ("oversized", *delivery(flavour, event, big), 413),
        ("oversized, chunked", tuple([b" " * 40_000] * 2), headers, 413),
    ]
    if flavour == "gitlab":         # GitLab signs nothing: its token says who, not what
        cases = [c for c in cases if c[0] != "changed after signing"]
    with web_service(g) as web:
        for what, raw, sent, expected in cases:
            status, answer = post(web, raw, sent)
            assert (status, list(answer)) == (expected, ["error"]), (what, answer)
        assert recorded(g) == []
        assert post(web, body, headers)[0] == 200
        status, answer = post(web, *delivery(flavour, event, payload, delivery_id="d-1"))
        assert status == 409 and "delivery d-1 was taken before: ignored" in answer["error"]
    assert len(recorded(g)) == 1
    with web_service(g) as web:                   # a restart remembers what it took
        assert post(web, body, headers)[0] == 409
    assert len(recorded(g)) == 1


def test_concurrent_deliveries_are_each_recorded_once(setup):
    """Into a state directory no engine has made yet: the first stores are
    opened at once by several of the web service's threads."""
    g, forge, flavour = setup
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
    sent = [delivery(flavour, *pull_hook(forge, PROJECT, number, "labeled", label="gate"))
            for _ in range(24)]
    with web_service(g) as web, ThreadPoolExecutor(12) as pool:
        first = list(pool.map(lambda d: post(web, *d)[0], sent))
        again = list(pool.map(lambda d: post(web, *d)[0], sent + sent))
    assert (first, set(again)) == ([200] * 24, {409})
    assert len(recorded(g)) == 24


def delivery_raw(flavour: str, event: str, raw: bytes) -> tuple[bytes, dict]:
    """A body as it is, signed properly."""
    return raw, {"Content-Type": "application/json", **headers_for(flavour, event, os.urandom(8).hex()),
                 **signature_headers(flavour, SECRET, raw)}


def _without_id(flavour: str, event: str, payload: dict) -> tuple[bytes, dict]:
    body, headers = delivery(flavour, event, payload)
    return body, {k: v for k, v in headers.items()
                  if "Delivery" not in k and "UUID" not in k and k != "Idempotency-Key"}


def bad_deliveries(flavour: str, body: bytes, headers: dict, rng: random.Random):
    """(body, headers, status) of deliveries that must each be refused."""
    sign = next(h for h in headers if "Signature" in h or "Token" in h)
    unsigned = {k: v for k, v in headers.items() if k != sign}
    event = next(v for k, v in headers.items() if k.endswith("Event"))
    for _ in range(180):
        junk = rng.choice(["", "sha256=", "0" * 64, "sha256=" + "0" * 64, "é" * 10, "x" * 5000,
                           SECRET.upper(), SECRET[:-1], SECRET + "x", os.urandom(16).hex()])
        yield body, {**unsigned, sign: junk}, 401
        yield body, unsigned, 401
        _, wrong = delivery(flavour, event, json.loads(body), secret=os.urandom(8).hex())
        yield body, {**headers, sign: wrong[sign]}, 401
        if flavour != "gitlab":       # GitLab signs nothing: a changed body passes its token
            cut = rng.randrange(len(body))
            yield body[:cut] + bytes([body[cut] ^ 1]) + body[cut + 1:], headers, 401
        kind = rng.choice(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                           "application/jsonx", "application/xml"])
        yield body, {**headers, "Content-Type": kind}, 415
        raw = rng.choice([b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"action": 1}'])
        yield (*delivery_raw(flavour, event, raw), 400)
    yield (*delivery(flavour, event, {"x": "y" * 70_000}), 413)
    yield (*_without_id(flavour, event, json.loads(body)), 400)


def test_a_thousand_bad_deliveries_each_get_a_one_line_json_4xx(setup):
    g, forge, flavour = setup
    number = forge.open_pull(PROJECT, {"a.txt": "1\n"}, "Add a", labels=["gate"])
    body, headers = delivery(flavour, *pull_hook(forge, PROJECT, number, "opened"))
    rng = random.Random(flavour)
    cases = list(bad_deliveries(flavour, body, headers, rng))
    with web_service(g) as web:
        assert post(web, body, headers)[0] == 200
        cases += [(body, headers, 409)] * 100                # the same delivery, replayed
        assert len(cases) >= 1000
        for raw, sent, expected in cases:
            status, got, answer = web.request("POST", PAYLOAD, raw, sent)
            case = (raw[:60], sent, status, answer[:200])
            assert status == expected and got["Content-Type"].startswith("application/json"), case
            assert answer.endswith(b"\n") and answer.count(b"\n") == 1, case
            assert list(json.loads(answer)) == ["error"], case
        assert web.get("/api/status")[0] == 200                # still serving
        again = delivery(flavour, *pull_hook(forge, PROJECT, number, "labeled", label="gate"))
        assert post(web, *again)[0] == 200                     # and still recording
    assert [e.kind for e in recorded(g)] == [K.PROPOSED, K.APPROVED]
