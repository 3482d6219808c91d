"""Move a target branch to a tested commit, only if nobody else moved it.

The update is a compare-and-swap (`update-ref REF NEW OLD`): a push made
outside gateq makes the land fail loudly instead of being overwritten.
"""
from __future__ import annotations

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
