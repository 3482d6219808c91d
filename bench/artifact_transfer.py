"""Benchmark: artifacts across hosts. Fetching a build's view from the
active scheduler's artifact server (HTTP on 127.0.0.1, a tar stream) and
uploading an export back, against a plain local copy of the same files
(`shutil.copytree`), side by side in each round.

The view holds one export of --mb MB in --files files, stored as the
engine stores it (Artifacts.store.ingest); a thread plays the engine's
loop, making views as RemoteBuilds.poll does. Medians and ranges over
--rounds; the ratio says what the transfer costs over the copy.
Usage: python bench/artifact_transfer.py [--mb 100] [--files 100] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gate_fixture import Gate  # noqa: E402
from gateq.config.loader import load_config  # noqa: E402
from gateq.core.actions import StartBuild  # noqa: E402
from gateq.core.types import Change  # noqa: E402
from gateq.publishing import Artifacts  # noqa: E402
from gateq.zk.artifacts_fetched import FetchedArtifacts  # noqa: E402
from gateq.zk.artifacts_http import ArtifactServer  # noqa: E402
from gateq.zk.artifacts_served import ServedArtifacts  # noqa: E402


def timed(action) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateq-bench-artifacts-") as root:
        g = Gate(root, jobs="- repository: {name: docs, type: files, keep: 5}\n"
                            "- job: {name: docs, run: jobs/check.sh, export: docs}\n")
        config = load_config(g.config)
        artifacts = Artifacts(config)
        src = os.path.join(root, "export")
        os.makedirs(src)
        size = args.mb * 1024 * 1024 // args.files
        for i in range(args.files):
            with open(os.path.join(src, f"f{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(size))
        change = Change("nova", "refs/heads/x", "main", "0" * 40)
        ahead = StartBuild("1-0-docs", 1, "gate", "docs", change, (), ())
        artifacts.store.ingest(ahead.build, "files", src, "docs", "nova:x")
        reader = StartBuild("2-0-docs", 2, "gate", "docs", change, (), (), (("docs", ahead.build),))
        served = ServedArtifacts(config, artifacts, lambda: None)
        served.expect(reader, "token")
        stop = threading.Event()

        def engine_loop() -> None:
            while not stop.is_set():
                served.make_views()
                time.sleep(0.002)
        threading.Thread(target=engine_loop, daemon=True).start()
        server = ArtifactServer(served, "127.0.0.1", 0, "127.0.0.1")
        server.start()
        fetched = FetchedArtifacts(os.path.join(root, "executor"),
                                   lambda b: os.path.join(root, "ws", b))
        rows = []
        try:
            for n in range(args.rounds):
                copy_to = os.path.join(root, f"copy-{n}")
                copy = timed(lambda: shutil.copytree(src, copy_to))
                shutil.rmtree(copy_to)
                view = timed(lambda: fetched.fetch_view(server.url, reader.build, "token"))
                fetched.discard(reader.build)
                upload = timed(lambda: fetched.upload_export(server.url, reader.build, "token", src))
                rows.append((copy, view, upload))
        finally:
            server.stop()
            stop.set()

    def ms(values) -> str:
        values = [v * 1000 for v in values]
        return f"{statistics.median(values):7.0f} ms ({min(values):.0f}-{max(values):.0f})"
    copy, view, upload = zip(*rows)
    print(f"{args.mb} MB in {args.files} files, {args.rounds} rounds: local copy {ms(copy)}, "
          f"view fetched {ms(view)}, export uploaded {ms(upload)}")
    print(f"over the local copy: view {statistics.median(view) / statistics.median(copy):.2f}x, "
          f"upload {statistics.median(upload) / statistics.median(copy):.2f}x")


if __name__ == "__main__":
    main()
