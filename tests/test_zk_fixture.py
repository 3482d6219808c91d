"""The ZooKeeper the other tests run against answers, and is gone after its test."""
from kazoo.client import KazooClient

from zk_fixture import four_letters, zk_server  # noqa: F401  (the fixture)


def test_server_answers_and_stores(zk_server):
    client = KazooClient(hosts=zk_server.hosts, timeout=10)
    client.start(timeout=10)
    try:
        client.create("/gateq-probe", b"x")
        assert client.get("/gateq-probe")[0] == b"x"
    finally:
        client.stop()
        client.close()
    assert four_letters(zk_server.port, b"ruok") == b"imok"
    zk_server.stop()
    assert zk_server.process.poll() is not None
    assert four_letters(zk_server.port, b"ruok") == b""
