"""How a simulated build ends: drawn once per (tested state, job, attempt).

A build fails when its tested state holds a bad change that breaks its job;
otherwise it flakes with its job's probability, by a draw that depends only
on the seed, the state's content, the job and how many times that same
(state, job) ran before. Every strategy therefore meets the same luck, and
a rerun with the same seed gives the same numbers.
"""
from __future__ import annotations

import hashlib

from ..core.types import JobResult, SpecState
from .repos import Repos
from .trace import TraceChange


class Luck:
    def __init__(self, repos: Repos, seed: int):
        self.repos = repos
        self.seed = seed
        self.attempts: dict[tuple[int, str], int] = {}
        self.flakes = 0

    def outcome(self, changes: list[TraceChange], job: str, state: SpecState) -> JobResult:
        """The run of `job` for `changes` (one, or a batch's) on `state`; a
        batch's run flakes with the highest chance among its changes' jobs."""
        for bad in sorted(self.repos.bad_in(state)):
            if job in self.repos.changes[bad].breaks:
                return JobResult.FAILURE
        content = self.repos.content(state)
        attempt = self.attempts.get((content, job), 0)
        self.attempts[(content, job)] = attempt + 1
        chance = max(flake_chance(c, job) for c in changes if any(j.name == job for j in c.jobs))
        if chance and draw(self.seed, content, job, attempt) < chance:
            self.flakes += 1
            return JobResult.FAILURE
        return JobResult.SUCCESS


def flake_chance(change: TraceChange, job: str) -> float:
    spec = change.job(job)
    return change.flake if spec.flake is None else spec.flake


def draw(seed: int, content: int, job: str, attempt: int) -> float:
    """A uniform number in [0, 1) from the seed and the build's identity."""
    digest = hashlib.blake2b(f"{seed}:{content}:{job}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64
