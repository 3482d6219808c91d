"""Move a target branch to a tested commit, only if nobody else moved it.

The update is a compare-and-swap (`update-ref REF NEW OLD`): a push made
outside gateq makes the land fail loudly instead of being overwritten.

An item whose changes are on several branches (a batch) moves them all.
Separate git repositories have no common transaction, so "together" means:
the moves are written to a journal before the first one; each is a
compare-and-swap, in the order given; if one loses (its branch moved
outside gateq), those already made are undone by compare-and-swap and the
landing fails as a whole; a landing cut short by a crash is finished at the
next start (`finish_interrupted`) before anything is published. What it
cannot promise: a reader fetching between two moves sees some branches
moved and not the others, and an undo loses when someone pushed on top of
a branch just moved (the branch keeps the change and the landing fails;
the item, tested again, finds it already there).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Sequence

from ..core.actions import Move
from .repo import GitError, first_line, resolve, run


def land(repo_path: str, branch: str, old: str, new: str) -> tuple[bool, str | None]:
    """Return (True, None) once `branch` is at `new`, else (False, reason).

    A branch already at `new` counts as landed: that is a re-run after a
    crash between the update and its record. Raises GitError when git could
    not even try (a held lock, a broken repository), so the caller retries.
    """
    ref = "refs/heads/" + branch
    proc = run(repo_path, "update-ref", "-m", "gateq: land", ref, new, old)
    if proc.returncode == 0:
        return True, None
    current = resolve(repo_path, ref)
    if current == new:
        return True, None
    if current is None:
        return False, f"branch {branch} was deleted outside gateq"
    if current != old:
        return False, (f"branch {branch} moved from {old[:12]} to {current[:12]}"
                       " outside gateq")
    raise GitError(f"cannot update branch {branch} in {repo_path}: {first_line(proc.stderr)}")


class LandingInterrupted(GitError):
    """git failed between the moves of a landing of several branches: the
    journal is kept, and the landing is finished at the next start."""


def land_all(repo_path: Callable[[str], str], moves: Sequence[Move],
             journal: str) -> tuple[bool, str | None]:
    """Make every move, or none (see the module docstring); a single move
    needs no journal and raises GitError as `land` does."""
    if len(moves) == 1:
        m = moves[0]
        return land(repo_path(m.project), m.branch, m.old, m.new)
    write_journal(journal, moves)
    try:
        ok, reason = apply(repo_path, moves)
    except GitError as exc:
        raise LandingInterrupted(f"{exc} (the landing of {len(moves)} branches is finished "
                                 "at the next start)") from None
    clear_journal(journal)
    return ok, reason


def apply(repo_path: Callable[[str], str], moves: Sequence[Move]) -> tuple[bool, str | None]:
    done: list[Move] = []
    for m in moves:
        ok, reason = land(repo_path(m.project), m.branch, m.old, m.new)
        if not ok:
            undone = [u for u in reversed(done) if land(repo_path(u.project), u.branch, u.new, u.old)[0]]
            kept = [f"{u.project}/{u.branch}" for u in done if u not in undone]
            note = f"; {', '.join(kept)} could not be moved back" if kept else ""
            return False, f"{m.project}: {reason}{note}"
        done.append(m)
    return True, None


def finish_interrupted(repo_path: Callable[[str], str], journal: str) -> str | None:
    """At a start: a landing of several branches cut short is made whole
    (every branch moved, or, if one of them moved outside gateq, none).
    What was done, if anything."""
    moves = read_journal(journal)
    if moves is None:
        return None
    ok, reason = apply(repo_path, moves)
    clear_journal(journal)
    names = ", ".join(f"{m.project}/{m.branch}" for m in moves)
    return (f"finished an interrupted landing of {names}" if ok
            else f"undid an interrupted landing of {names}: {reason}")


def write_journal(path: str, moves: Sequence[Move]) -> None:
    """The moves, whole and durable before the first one is made."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump([[m.project, m.branch, m.old, m.new] for m in moves], f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    sync_dir(path)


def read_journal(path: str) -> list[Move] | None:
    try:
        with open(path) as f:
            return [Move(*entry) for entry in json.load(f)]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise GitError(f"{path}: cannot read the journal of an interrupted landing ({exc}); "
                       "check each branch it names, then remove it") from None


def clear_journal(path: str) -> None:
    for name in (path, path + ".tmp"):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
    sync_dir(path)


def sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
