"""An executor's log server (gateq/zk/live_logs.py) over real HTTP on
127.0.0.1: a log read from an offset, its last bytes in one request with
where they start, and bad requests refused."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from gateq.zk.live_logs import CHUNK, LogServer, fetch, fetch_tail


@pytest.fixture
def server(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "1-0-check.log").write_bytes(b"".join(b"line %d\n" % n for n in range(1000)))
    served = LogServer(str(logs), "127.0.0.1", 0)
    served.start()
    yield served, (logs / "1-0-check.log").read_bytes()
    served.stop()


def test_a_log_from_an_offset_and_its_tail_in_one_request(server):
    served, text = server
    url = f"{served.url}/logs/1-0-check"
    assert fetch(url, 0) == (text, len(text))
    assert fetch(url, 100) == (text[100:], len(text))
    assert fetch(url, len(text) + 5) == (b"", len(text))
    assert fetch_tail(url, 50) == (text[-50:], len(text) - 50, len(text))
    assert fetch_tail(url, len(text) * 2) == (text, 0, len(text))
    assert fetch_tail(f"{served.url}/logs/2-0-check", 50) is None      # no such log here


def test_a_tail_is_capped_at_one_chunk(tmp_path):
    (tmp_path / "1-0-big.log").write_bytes(b"x" * (CHUNK + 10))
    served = LogServer(str(tmp_path), "127.0.0.1", 0)
    served.start()
    try:
        data, start, size = fetch_tail(f"{served.url}/logs/1-0-big", CHUNK * 4)
        assert (len(data), start, size) == (CHUNK, 10, CHUNK + 10)
    finally:
        served.stop()


@pytest.mark.parametrize("query", ["?offset=x", "?last=-1", "?last=", "/../../etc/passwd"])
def test_bad_requests_are_refused(server, query):
    served, _ = server
    path = "/logs/1-0-check" + query if query.startswith("?") else "/logs" + query
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(served.url + path, timeout=5)
    assert refused.value.code in (400, 404)
