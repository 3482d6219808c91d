"""Benchmark: preparing a deep gate queue with gateq's Merger.

Builds one repository of --files files and --depth non-conflicting changes,
then prepares every item's speculative state three ways, side by side:
  (a) gateq: one merge per item onto the previous item's state;
  (b) the floor: merge-tree + commit-tree chained by hand in a tight loop;
  (c) Zuul-style replay: for item k, reset a checkout to the tip and
      `git merge` changes 1..k (also shown with plumbing instead of a checkout).
Usage: python bench/merge.py [--files 20000] [--depth 20] [--rounds 3] [--tmp DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateq.config.model import MergeMode  # noqa: E402
from gateq.core.actions import PrepareMerge  # noqa: E402
from gateq.core.types import state_dict  # noqa: E402
from gateq.git.changes import resolve_change  # noqa: E402
from gateq.git.merger import Merger  # noqa: E402
from gateq.git.repo import git_env  # noqa: E402
from gateq.git.workspace import prepare_workspace  # noqa: E402

PROJECT = "bench"
ENV = git_env()


def sh(cwd: str, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(["git", "-C", cwd, *args], input=stdin, capture_output=True, env=ENV)
    if proc.returncode != 0:
        sys.exit(f"bench: git {args[0]} failed: {proc.stderr.decode().strip()}")
    return proc.stdout.decode().strip()


def file_name(i: int) -> str:
    return f"d{i // 100:04d}/f{i:06d}.txt"


def build_repo(path: str, files: int, depth: int) -> None:
    """One fast-import stream: main with `files` files, change-K touching one file each."""
    sh(os.path.dirname(path), "init", "--quiet", "--bare", "--initial-branch=main", path)
    out = [b"commit refs/heads/main\nmark :1\n",
           b"committer Bench <b@x> 1700000000 +0000\ndata 5\nbase\n"]
    for i in range(files):
        data = f"file {i}\n".encode() * 4
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (file_name(i).encode(), len(data), data))
    for k in range(1, depth + 1):
        target = file_name((k * files) // (depth + 1))
        data = f"changed by change {k}\n".encode()
        out.append(b"commit refs/heads/change-%d\n" % k)
        out.append(b"committer Dev <d@x> 1700000000 +0000\ndata 9\nchange %02d\nfrom :1\n" % k)
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (target.encode(), len(data), data))
    sh(path, "fast-import", "--quiet", stdin=b"".join(out))


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def gateq_queue(path: str, changes: list) -> str:
    merger = Merger(lambda project: path)
    state = ()
    for item, change in enumerate(changes, 1):
        action = PrepareMerge(item=item, generation=0, change=change, mode=MergeMode.MERGE,
                              base=state, need=((PROJECT, "main"),))
        state, _ = merger.merge(action)
    return state_dict(state)[(PROJECT, "main")]


def plumbing_chain(path: str, tip: str, revisions: list[str]) -> str:
    current = tip
    for rev in revisions:
        tree = sh(path, "merge-tree", "--write-tree", current, rev)
        current = sh(path, "commit-tree", tree, "-p", current, "-p", rev, "-m", "merge")
    return current


def by_hand(path: str, revisions: list[str]) -> str:
    return plumbing_chain(path, sh(path, "rev-parse", "refs/heads/main"), revisions)


def replay_plumbing(path: str, revisions: list[str]) -> str:
    tip = sh(path, "rev-parse", "refs/heads/main")
    for k in range(1, len(revisions) + 1):
        result = plumbing_chain(path, tip, revisions[:k])
    return result


def replay_checkout(checkout: str, revisions: list[str]) -> str:
    """What Zuul's merger does per item: reset a checkout to the tip, merge all ahead."""
    for k in range(1, len(revisions) + 1):
        sh(checkout, "checkout", "--quiet", "--force", "--detach", "origin/main")
        sh(checkout, "clean", "-qxfd")
        for rev in revisions[:k]:
            sh(checkout, "merge", "--quiet", "--no-ff", "--no-edit", rev)
    return sh(checkout, "rev-parse", "HEAD")


def tree_of(path: str, commit: str) -> str:
    return sh(path, "rev-parse", commit + "^{tree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for (a) and (b)")
    parser.add_argument("--tmp", default=None,
                        help="scratch directory (e.g. /dev/shm to keep disk noise out)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gateq-bench-", dir=args.tmp) as tmp:
        path = os.path.join(tmp, PROJECT + ".git")
        build_time, _ = timed(lambda: build_repo(path, args.files, args.depth))
        changes = [resolve_change(path, PROJECT, f"change-{k}", "main")
                   for k in range(1, args.depth + 1)]
        revisions = [c.revision for c in changes]
        print(f"repo: {args.files} files, {args.depth} changes, built in {build_time:.2f}s")

        t_a = min(timed(lambda: gateq_queue(path, changes))[0] for _ in range(args.rounds))
        t_b = min(timed(lambda: by_hand(path, revisions))[0] for _ in range(args.rounds))
        head_a, head_b = gateq_queue(path, changes), by_hand(path, revisions)
        assert tree_of(path, head_a) == tree_of(path, head_b), "gateq and (b) disagree"

        # Before the checkout replay, whose file writes would slow this down.
        state = ((PROJECT, "main", head_a),)
        t_ws, _ = timed(lambda: prepare_workspace(os.path.join(tmp, "ws"), state,
                                                  lambda project: path))

        t_cp, _ = timed(lambda: replay_plumbing(path, revisions))
        checkout = os.path.join(tmp, "zuul-checkout")
        sh(tmp, "clone", "--quiet", "--shared", path, checkout)
        t_cz, head_c = timed(lambda: replay_checkout(checkout, revisions))
        assert tree_of(checkout, head_c) == tree_of(path, head_a), "gateq and (c) disagree"

    report(args.depth, t_a, t_b, t_cp, t_cz, t_ws)


def report(n: int, t_a: float, t_b: float, t_cp: float, t_cz: float, t_ws: float) -> None:
    print(f"(a) gateq Merger, {n}-deep queue:       {t_a * 1000:8.1f} ms "
          f"({t_a / n * 1000:.2f} ms/item)")
    print(f"(b) merge-tree+commit-tree by hand:     {t_b * 1000:8.1f} ms")
    print(f"(c) replay per item, plumbing:          {t_cp * 1000:8.1f} ms")
    print(f"(c) replay per item, checkout (Zuul):   {t_cz * 1000:8.1f} ms")
    print(f"prepare_workspace, one item:            {t_ws * 1000:8.1f} ms")
    print(f"gateq/(b) = {t_a / t_b:.2f}x   (c plumbing)/gateq = {t_cp / t_a:.1f}x   "
          f"(c Zuul)/gateq = {t_cz / t_a:.1f}x")

if __name__ == "__main__":
    main()
