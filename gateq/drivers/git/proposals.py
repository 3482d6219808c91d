"""Changes proposed by pushing to refs/for/BRANCH, stored as Gerrit stores
patch sets: change N, patch set P at refs/changes/NN/N/P (NN: N modulo
100, two digits), so jobs see the same GATEQ_CHANGE shape on both drivers.

Numbers are per repository and never reused: a new change takes one more
than the highest in use, created with a compare-and-swap against "no such
ref", so two pushes at once cannot take the same number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...git.repo import GitError, first_line, git, run

PREFIX = "refs/changes/"
PATCHSET_REF = re.compile(r"refs/changes/\d\d/(?P<number>[1-9]\d*)/(?P<patchset>[1-9]\d*)\Z")
ATTEMPTS = 20


@dataclass(frozen=True)
class Proposal:
    number: int
    patchset: int
    revision: str

    @property
    def ref(self) -> str:
        return patchset_ref(self.number, self.patchset)


def patchset_ref(number: int, patchset: int) -> str:
    return f"{PREFIX}{number % 100:02d}/{number}/{patchset}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    """(number, patch set) of a patch set ref, or None."""
    match = PATCHSET_REF.match(ref)
    return (int(match["number"]), int(match["patchset"])) if match else None


def proposals(repo: str) -> dict[int, list[Proposal]]:
    """Every stored patch set by change number, oldest patch set first."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", PREFIX)
    found: dict[int, list[Proposal]] = {}
    for line in out.splitlines():
        ref, revision = line.split(" ", 1)
        parsed = parse_ref(ref)
        if parsed:
            found.setdefault(parsed[0], []).append(Proposal(parsed[0], parsed[1], revision))
    return {n: sorted(ps, key=lambda p: p.patchset) for n, ps in found.items()}


def store(repo: str, revision: str, number: int | None = None) -> Proposal:
    """Store `revision` as a new change, or as the next patch set of change
    `number` (GitError if there is no such change)."""
    for _ in range(ATTEMPTS):
        known = proposals(repo)
        if number is None:
            wanted = Proposal(max(known, default=0) + 1, 1, revision)
        elif number in known:
            wanted = Proposal(number, known[number][-1].patchset + 1, revision)
        else:
            raise GitError(f"no change {number} in this repository")
        proc = run(repo, "update-ref", "-m", "gateq: proposed", wanted.ref, revision, "0" * 40)
        if proc.returncode == 0:
            return wanted
        if "reference already exists" not in proc.stderr and "but expected" not in proc.stderr:
            raise GitError(f"cannot store {wanted.ref}: {first_line(proc.stderr)}")
    raise GitError(f"could not take a change number after {ATTEMPTS} attempts (pushes racing?)")
