"""Benchmark: the garbage collector after one landing, on a repository of
--packages rpms, next to createrepo_c from scratch on the same repository.

Publishes the packages of bench/publish.py (generated once, cached under
bench/out/) as snapshot 1 with keep=3, then lands one new version of a
package per round, prunes, starts a build (its view) on the new snapshot
in place of the one that ran, and times the collection that follows (what
the pruned snapshot and the finished build's view alone used), while a live
export set stays. Also times a collection with nothing to remove.
Medians of --rounds, side by side with createrepo_c --no-database.
Usage: python bench/gc.py [--packages 5000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "bench")]

from publish import MIDDLE, OUT, generate, timed  # noqa: E402
from rpm_fixture import build_rpms, repoquery  # noqa: E402

from gateq.artifacts.gc import collect  # noqa: E402
from gateq.artifacts.snapshots import Publisher  # noqa: E402
from gateq.artifacts.store import ArtifactStore  # noqa: E402
from gateq.artifacts.view import materialise  # noqa: E402

KEEP = 3


def updates(count: int, rounds: int) -> list[str]:
    """One directory per landing, each holding a new version of one package."""
    dests = []
    for i in range(KEEP + rounds + 1):
        name, version = MIDDLE % (i * count // (KEEP + rounds + 1)), f"2.{i}"
        dest = os.path.join(OUT, "gc-updates", f"{name}-{version}")
        if not glob.glob(os.path.join(dest, "*.rpm")):
            build_rpms(dest, name, version=version)
        dests.append(dest)
    return dests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rpms = generate(args.packages)
    landings = iter(updates(args.packages, args.rounds))
    work = os.path.join(OUT, "gc-run")
    shutil.rmtree(work, ignore_errors=True)
    store = ArtifactStore(os.path.join(work, "cas"))
    publisher = Publisher(os.path.join(work, "publish"), "bench", "rpm", KEEP, store)
    builds = iter(range(10**6))

    def land() -> None:
        build = f"b{next(builds)}"
        src = rpms if build == "b0" else next(landings)
        layer = store.ingest(build, "rpm", src, "rpm-build", build)
        publisher.switch(publisher.stage([layer], {"projects": [], "changes": []}))
        publisher.prune()

    for _ in range(KEEP + 1):
        land()
    live = store.ingest("live", "rpm", next(landings), "rpm-build", "live")   # an item in a queue
    view = os.path.join(work, "work", "running", "repos")

    def next_build() -> None:
        """The build that ran ends; the next one sees the new snapshot."""
        shutil.rmtree(view, ignore_errors=True)
        materialise(os.path.join(view, "bench"), "rpm", [publisher.current_layer(), live], store,
                    pool=publisher.pool)

    def collection(_=None):
        return collect(store, [publisher.repo_dir], [view], ["live"])

    next_build()
    first = collection()
    removed = []

    def after_landing(_):
        removed.append(collection())

    rows = [("collect after one landing (keep=3)",
             timed(after_landing, args.rounds, lambda: (land(), next_build()))),
            ("collect with nothing to remove", timed(collection, args.rounds))]

    scratch = os.path.join(work, "scratch")   # copies: links would keep pruned blobs alive
    for artifact in publisher.current_layer().artifacts():
        path = os.path.join(scratch, artifact.entry.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(store.blob(artifact.entry.sha256), path)

    def createrepo(_):
        subprocess.run(["createrepo_c", "-q", "--no-database", scratch], check=True)

    def clean_repodata(_):
        shutil.rmtree(os.path.join(scratch, "repodata"))

    full = timed(createrepo, args.rounds, None, clean_repodata)
    rows.insert(0, ("createrepo_c --no-database, from scratch", full))
    print(f"{args.packages} packages; the first collection removed what {KEEP + 1} landings "
          f"left: {first.summary()}")
    print(f"after each landing: {removed[-1].summary()}")
    print(f"median of {args.rounds} rounds")
    for label, seconds in rows:
        print(f"  {label:<42} {seconds * 1000:8.1f} ms   {seconds / full:6.3f}x")
    current = publisher.path(publisher.current_number())
    if len(repoquery(current)) != args.packages:
        sys.exit("the current snapshot lost packages")


if __name__ == "__main__":
    main()
