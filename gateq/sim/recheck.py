"""What a developer does when the gate ejects a good change: re-approve it.

A good change (one the bound lands) that leaves the gate unlanded is
approved again `minutes` later, at most `rounds` times. One that left
because a change it depends on left is approved again with that change,
right after it, rather than on its own (it could not merge without it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .trace import Trace, TraceChange, ancestors


@dataclass(frozen=True)
class Recheck:
    minutes: float = 5.0
    rounds: int = 3

    @property
    def on(self) -> bool:
        return self.minutes > 0 and self.rounds > 0


class Developers:
    """Invariant: a change is parked only while one of its unlanded
    dependencies is out of the gate; it leaves when they are all back."""

    def __init__(self, policy: Recheck, trace: Trace, good: set[str]):
        self.policy = policy
        self.good = good
        by_id = trace.by_id()
        self.ancestors = {c.id: ancestors(c, by_id) for c in trace.changes if c.depends}
        self.rank = {c.id: i for i, c in enumerate(trace.changes)}
        self.rounds: dict[str, int] = {}
        self.parked: list[str] = []

    def needs(self, change: str) -> set[str]:
        return self.ancestors.get(change, set())

    def removed(self, change: TraceChange, now: float, out_of_gate: Callable[[str], bool]) -> float | None:
        """When to approve `change` again (None: not now, perhaps with a dependency)."""
        if not self.policy.on or change.id not in self.good or not self.has_rounds(change.id):
            return None
        if any(out_of_gate(d) for d in self.needs(change.id)):
            self.parked.append(change.id)
            return None
        self.rounds[change.id] = self.rounds.get(change.id, 0) + 1
        return now + self.policy.minutes * 60

    def back(self, out_of_gate: Callable[[str], bool]) -> list[str]:
        """Parked changes whose dependencies are all back in the gate (or landed):
        they are approved again now, in arrival order."""
        going = sorted((c for c in self.parked if not any(out_of_gate(d) for d in self.needs(c))),
                       key=self.rank.__getitem__)
        for c in going:
            self.parked.remove(c)
            self.rounds[c] = self.rounds.get(c, 0) + 1
        return going

    def has_rounds(self, change: str) -> bool:
        return self.rounds.get(change, 0) < self.policy.rounds

    @property
    def total(self) -> int:
        return sum(self.rounds.values())
