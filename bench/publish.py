"""Benchmark: rpm repository metadata for "published + 1 package".

Generates --packages tiny noarch rpms once (one spec with that many
subpackages: a single rpmbuild run, about a minute for 5,000; cached under
bench/out/), publishes them as snapshot 1, then times side by side, medians
of --rounds:
  - createrepo_c --no-database from scratch on the published files + 1 rpm;
  - (a) a speculative view: the published snapshot + 1 new package, and the
    same with a new version replacing a package in the middle;
  - (b) staging the next published snapshot with 1 new package.
(a) and (b) are timed whole (hard links, metadata, manifest) and as their
metadata alone (rpmmeta.write_repodata). A view reads the published
manifest once per snapshot (cached in the process): timed on its own.
Target: each <= 0.2 of createrepo_c from scratch.
Usage: python bench/publish.py [--packages 5000] [--rounds 5] [--check]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from gateq.artifacts import snapshots  # noqa: E402
from gateq.artifacts.layering import link_tree, overlay  # noqa: E402
from gateq.artifacts.rpmmeta import PackageRef, write_repodata  # noqa: E402
from gateq.artifacts.snapshots import Publisher  # noqa: E402
from gateq.artifacts.store import ArtifactStore  # noqa: E402
from gateq.artifacts.view import materialise  # noqa: E402
from rpm_fixture import build_rpms, repoquery  # noqa: E402

OUT = os.path.join(ROOT, "bench", "out")
MIDDLE = "bench-%05d"


def many_spec(count: int) -> str:
    lines = ["Name: bench", "Version: 1.0", "Release: 1", "Summary: bench", "License: MIT",
             "BuildArch: noarch", "%description", "bench", "%install",
             "mkdir -p %{buildroot}/usr/share/bench",
             f"for i in $(seq 0 {count - 1}); do echo $i > %{{buildroot}}/usr/share/bench/$i; done"]
    for i in range(count):
        name = MIDDLE % i
        lines += [f"%package -n {name}", f"Summary: {name}", f"%description -n {name}",
                  f"{name} for the publish benchmark", f"%files -n {name}", f"/usr/share/bench/{i}"]
    return "\n".join(lines) + "\n"


def generate(count: int) -> str:
    """`count` rpms in one rpmbuild run, cached: the directory holding them."""
    dest = os.path.join(OUT, f"rpms-{count}")
    if len(glob.glob(os.path.join(dest, "*.rpm"))) == count:
        return dest
    print(f"generating {count} rpms with one rpmbuild run (cached in {dest}) ...", flush=True)
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=OUT) as top:
        spec = os.path.join(top, "bench.spec")
        with open(spec, "w") as f:
            f.write(many_spec(count))
        subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}",
                        "--define", "_binary_payload w.ufdio", spec], check=True,
                       stdout=subprocess.DEVNULL)
        os.rename(os.path.join(top, "RPMS", "noarch"), dest)
    return dest


def extras(count: int) -> dict[str, str]:
    """One new package, and a new version of a package in the middle."""
    dest = os.path.join(OUT, "extras")
    middle = MIDDLE % (count // 2)
    wanted = {"add": "bench-extra-1.0-1.noarch.rpm", "replace": f"{middle}-2.0-1.noarch.rpm"}
    if not all(os.path.exists(os.path.join(dest, kind, n)) for kind, n in wanted.items()):
        shutil.rmtree(dest, ignore_errors=True)
        build_rpms(os.path.join(dest, "add"), "bench-extra")
        build_rpms(os.path.join(dest, "replace"), middle, version="2.0")
    return {kind: os.path.join(dest, kind) for kind in wanted}


def timed(fn, rounds: int, setup=None, teardown=None) -> float:
    samples = []
    for _ in range(rounds):
        state = setup() if setup else None
        start = time.perf_counter()
        result = fn(state)
        samples.append(time.perf_counter() - start)
        if teardown:
            teardown(result)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="also compare dnf's view of both")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rpms = generate(args.packages)
    extra_dirs = extras(args.packages)
    work = os.path.join(OUT, "run")
    shutil.rmtree(work, ignore_errors=True)
    store = ArtifactStore(os.path.join(work, "cas"))

    start = time.perf_counter()
    base_set = store.ingest("import", "rpm", rpms, "import", "import")
    ingest_s = time.perf_counter() - start
    sets = {kind: store.ingest(kind, "rpm", d, "rpm-build", kind) for kind, d in extra_dirs.items()}
    publisher = Publisher(os.path.join(work, "publish"), "bench", "rpm", 3, store)
    start = time.perf_counter()
    publisher.switch(publisher.stage([base_set], {"projects": [], "changes": []}))
    first_s = time.perf_counter() - start
    snap = publisher.current_layer()
    print(f"{args.packages} packages: ingest {ingest_s:.2f} s, first snapshot {first_s:.2f} s "
          f"(every package rendered once)")

    scratch = os.path.join(work, "scratch")
    shutil.copytree(snap.path, scratch, copy_function=os.link,
                    ignore=shutil.ignore_patterns("repodata", "manifest.json"))
    for rpm in glob.glob(os.path.join(extra_dirs["add"], "*.rpm")):
        os.link(rpm, os.path.join(scratch, os.path.basename(rpm)))

    def createrepo(_):
        subprocess.run(["createrepo_c", "-q", "--no-database", scratch], check=True)

    def clean_repodata(_):
        shutil.rmtree(os.path.join(scratch, "repodata"), ignore_errors=True)

    counter = iter(range(10**6))

    def fresh_dir(_=None) -> str:
        return os.path.join(work, f"out-{next(counter)}")

    def view(kind):
        def run(dest):
            materialise(dest, "rpm", [publisher.current_layer(), sets[kind]], store,
                        pool=publisher.pool)
            return dest
        return run

    def parse_manifest(_):
        snapshots._CONTENTS = snapshots.FileMemo()
        publisher.current_layer()

    def links(dest):
        link_tree(dest, overlay("rpm", [snap, sets["add"]]), store, publisher.pool)
        return dest

    def metadata(kind, published=False):
        refs = [PackageRef(a.entry.path, a.entry.sha256)
                for a in overlay("rpm", [snap, sets[kind]]).artifacts]

        def run(dest):
            write_repodata(dest, refs, store.fragments, store.blob, base=snap.path, published=published)
            return dest
        return run

    def stage(_):
        return publisher.stage([sets["add"]], {"projects": [], "changes": []})

    def land_after_landing(_):
        """The engine's flow: each staging starts from the snapshot the
        previous landing just published."""
        publisher.switch(publisher.stage([sets["add"]], {"projects": [], "changes": []}))

    rmtree = lambda path: shutil.rmtree(path)    # noqa: E731
    rows = [
        ("createrepo_c --no-database, from scratch", timed(createrepo, args.rounds, None, clean_repodata)),
        ("(a) view: published + 1 new package", timed(view("add"), args.rounds, fresh_dir, rmtree)),
        ("    packages only (pooled buckets)", timed(links, args.rounds, fresh_dir, rmtree)),
        ("    metadata only", timed(metadata("add"), args.rounds, fresh_dir, rmtree)),
        ("(a) view: published + 1 replacing one", timed(view("replace"), args.rounds, fresh_dir, rmtree)),
        ("    metadata only", timed(metadata("replace"), args.rounds, fresh_dir, rmtree)),
        ("(b) stage snapshot: published + 1 new", timed(stage, args.rounds, None, publisher.discard)),
        ("    metadata only", timed(metadata("add", True), args.rounds, fresh_dir, rmtree)),
        ("parsing a new snapshot's manifest (once)", timed(parse_manifest, args.rounds)),
        ("(c) stage + switch, on the one just published", timed(land_after_landing, args.rounds)),
    ]
    full = rows[0][1]
    print(f"median of {args.rounds} rounds, {args.packages} + 1 packages")
    for label, seconds in rows:
        print(f"  {label:<42} {seconds * 1000:8.1f} ms   {seconds / full:5.2f}x")
    if args.check:
        check(work, store, publisher, sets, scratch)


def check(work, store, publisher, sets, scratch) -> None:
    dest = os.path.join(work, "check-view")
    materialise(dest, "rpm", [publisher.current_layer(), sets["add"]], store, pool=publisher.pool)
    createrepo = subprocess.run(["createrepo_c", "-q", "--no-database", scratch], check=True)
    ours, theirs = repoquery(dest), repoquery(scratch)
    verdict = "same packages" if ours == theirs else "DIFFERENT packages"
    print(f"dnf sees {len(ours)} packages in the view, {len(theirs)} with createrepo_c: {verdict}")
    if ours != theirs or createrepo.returncode:
        sys.exit(1)


if __name__ == "__main__":
    main()
