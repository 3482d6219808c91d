"""Benchmark: what a build's workspace costs on a large repository (issue 11).

1. prepare: a workspace for a one-file change on a --files repository, made
   the way the engine makes it (git/workspace.py: a layer of the build's own
   over a kept checkout, moved by that one file), against a fresh
   `git clone --shared` + checkout of the same commit, alternately in each
   round; each also run once (`true` in its checkout: the overlay's mount
   included) and removed. Target: overlay at most 0.1x of the clone.
2. engine: `gateq run --until-idle` on a generated configuration
   (tests/gate_fixture.py) of three projects in a shared queue, six trivial
   changes (two per project) approved at once, on --files repositories
   against one-file repositories, side by side in each round. The first
   round on a state directory makes its kept checkouts ("cold"); later ones
   find them ("warm"). Target: large within 2x of small.
Ranges over --rounds. Says which workspace path ran.
Usage: python bench/workspace.py [--files 100000] [--rounds 5] [--part prepare|engine|both]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from gate_fixture import GIT_ENV, Gate, git  # noqa: E402
from gateq.git.workspace import Workspaces, remove_tree  # noqa: E402
from gateq.sandbox import overlay_command  # noqa: E402


def big_tree(repo: str, files: int, parent: str | None) -> str:
    """A commit on main of `repo` adding `files` files (100 a directory), by fast-import."""
    lines = ["commit refs/heads/main", "committer Bench <b@example.org> 0 +0000",
             "data 9", "big tree"]
    if parent:
        lines.append(f"from {parent}")
    for i in range(files):
        data = f"file {i}\n"
        lines += [f"M 644 inline d{i // 100:05d}/f{i:06d}", f"data {len(data)}", data.rstrip("\n")]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, check=True,
                   input="\n".join(lines) + "\n", text=True, env={**os.environ, **GIT_ENV})
    return git("rev-parse", "refs/heads/main", cwd=repo)


def one_file_commits(repo: str, base: str, count: int) -> list[str]:
    """`count` commits in a row, each changing one file of `base`'s tree."""
    commits, parent = [], base
    for n in range(count):
        data = f"changed {n}\n"
        stream = (f"commit refs/bench/{n}\ncommitter Bench <b@example.org> 0 +0000\ndata 3\none\n"
                  f"from {parent}\nM 644 inline d00000/f{n % 100:06d}\ndata {len(data)}\n{data}\n")
        subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, check=True, input=stream,
                       text=True, env={**os.environ, **GIT_ENV})
        parent = git("rev-parse", f"refs/bench/{n}", cwd=repo)
        commits.append(parent)
    return commits


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run_true(checkout: str, overlays=()) -> None:
    argv = overlay_command(overlays, ["true"], checkout) if overlays else ["true"]
    subprocess.run(argv, cwd=checkout, check=True)


def prepare_part(tmp: str, files: int, rounds: int) -> None:
    repo = os.path.join(tmp, "big.git")
    os.makedirs(tmp)
    git("init", "-q", "--bare", "-b", "main", repo, cwd=tmp)
    base = big_tree(repo, files, None)
    commits = one_file_commits(repo, base, rounds + 1)
    workspaces = Workspaces(os.path.join(tmp, "state"), lambda project: repo)
    print(f"workspace path: {workspaces.mode.value}")
    workspaces.prepare("warm-up", {"big": commits[0]})     # makes the kept checkout
    workspaces.remove("warm-up")
    rows = []
    for n, commit in enumerate(commits[1:]):
        clone = os.path.join(tmp, f"clone{n}")
        t_clone = timed(lambda: (git("clone", "-q", "--shared", "--no-checkout", repo, clone, cwd=tmp),
                                 git("checkout", "-q", "--detach", commit, cwd=clone)))
        t_clone_run = timed(lambda: run_true(clone))
        t_clone_rm = timed(lambda: remove_tree(clone))
        build = f"b{n}"
        prepared = None

        def prepare():
            nonlocal prepared
            prepared = workspaces.prepare(build, {"big": commit})
        t_ws = timed(prepare)
        t_ws_run = timed(lambda: run_true(prepared.checkouts["big"], prepared.overlays))
        t_ws_rm = timed(lambda: workspaces.remove(build))
        rows.append((t_clone, t_clone_run, t_clone_rm, t_ws, t_ws_run, t_ws_rm))
        print(f"  round {n + 1}: clone+checkout {t_clone * 1000:7.0f} ms, workspace {t_ws * 1000:6.1f} ms"
              f" (+run {t_ws_run * 1000:5.1f} ms), ratio {t_ws / t_clone:.3f}; removal "
              f"{t_clone_rm * 1000:6.0f} ms vs {t_ws_rm * 1000:4.1f} ms")
    ratios = [r[3] / r[0] for r in rows]
    with_run = [(r[3] + r[4]) / (r[0] + r[1]) for r in rows]
    print(f"prepare, {files} files, one-file change: ratio {min(ratios):.3f}-{max(ratios):.3f} "
          f"(with the build's first process, mount included: {min(with_run):.3f}-{max(with_run):.3f}); "
          f"target <= 0.1: {'met' if max(ratios) <= 0.1 else 'NOT met'}")


class EngineCase:
    """A generated gate of three projects whose repositories have `files` files."""

    def __init__(self, root: str, files: int) -> None:
        logging.disable(logging.INFO)
        self.gate = Gate(root, projects=("nova", "glance", "keystone"))
        self.round = 0
        if files > 1:
            for project in ("nova", "glance", "keystone"):
                bare = self.gate.bare(project)
                big_tree(bare, files, self.gate.tip(project))

    def six_changes(self) -> float:
        """Seconds `gateq run --until-idle` takes to land six trivial changes."""
        self.round += 1
        refs = []
        for project in ("nova", "glance", "keystone"):
            for k in (1, 2):
                ref = f"{project[0]}{self.round}x{k}"
                self.gate.change(project, ref)
                refs.append((project, ref))
        for project, ref in refs:
            self.gate.approve(project, ref)
        out = io.StringIO()
        os.sync()           # the previous round's checkouts reach the disk first: their
        began = time.perf_counter()   # writeback would stall this round's journal fsyncs
        with contextlib.redirect_stderr(out):
            self.gate.run()
        took = time.perf_counter() - began
        landed = sum(len(self.gate.landed(p)) for p in ("nova", "glance", "keystone"))
        assert landed == 6 * self.round, f"{landed} landed after round {self.round}"
        return took


def engine_part(tmp: str, files: int, rounds: int) -> None:
    probe = Workspaces(os.path.join(tmp, "probe"), str)
    print(f"workspace path: {probe.mode.value}")
    small = EngineCase(os.path.join(tmp, "small"), 1)
    big = EngineCase(os.path.join(tmp, "big"), files)
    rows = []
    for n in range(rounds):
        t_small, t_big = small.six_changes(), big.six_changes()
        rows.append((t_small, t_big))
        print(f"  round {n + 1} ({'cold' if n == 0 else 'warm'}): small {t_small:6.2f} s, "
              f"{files} files {t_big:6.2f} s, ratio {t_big / t_small:.2f}")
    warm = [b / s for s, b in rows[1:]] or [rows[0][1] / rows[0][0]]
    print(f"engine, six changes on three repositories: cold ratio {rows[0][1] / rows[0][0]:.2f}, "
          f"warm {min(warm):.2f}-{max(warm):.2f}; target <= 2 (warm): "
          f"{'met' if max(warm) <= 2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--part", choices=("prepare", "engine", "both"), default="both")
    parser.add_argument("--tmp", default=None, help="where to make the repositories")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.part in ("prepare", "both"):
            prepare_part(os.path.join(tmp, "prepare"), args.files, args.rounds)
        if args.part in ("engine", "both"):
            engine_part(os.path.join(tmp, "engine"), args.files, args.rounds)


if __name__ == "__main__":
    main()
