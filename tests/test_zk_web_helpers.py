"""Helpers for the ZooKeeper tests of the web and the review connections
(no tests here): the CLI run in the test's process, and the store of a
configuration opened as the CLI opens it; other hosts and gateq processes
come from zk_processes.py."""
from __future__ import annotations

import contextlib
import io

from gateq.cli import main as gateq_main
from gateq.config.loader import load_config
from gateq.state import open_store
from zk_processes import Process as GateqProcess  # noqa: F401  (the tests' name for it)
from zk_processes import other_host, zookeeper_yaml  # noqa: F401


def add_zookeeper(config_dir: str, hosts: str, session_timeout: int = 3) -> None:
    zookeeper_yaml(config_dir, hosts, session_timeout)


def cli(config_dir: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gateq_main(["-c", config_dir, *args])
    return rc, out.getvalue(), err.getvalue()


def ok(config_dir: str, *args: str) -> str:
    rc, out, err = cli(config_dir, *args)
    assert rc == 0, f"gateq {' '.join(args)} exited {rc}: {err}"
    return out


@contextlib.contextmanager
def store_of(config_dir: str):
    """The configured store (ZooKeeper's), as `gateq status` opens it."""
    config = load_config(config_dir)
    store = open_store(config.state_dir, create=False, zookeeper=config.zookeeper)
    try:
        yield store
    finally:
        store.close()
