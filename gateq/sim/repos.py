"""Simulated git: commits as sets of changes, merges with textual conflicts, and
branch tips moved by compare-and-swap.

A commit is named by a short id and stands for the set of changes in it. Two
commits holding the same changes have the same `content` hash whatever the
strategy that built them, so outcomes drawn from it are the same luck for all.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..core.types import SpecState, state_dict, state_tuple
from .trace import Trace, TraceChange

MASK = (1 << 64) - 1


def change_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Merged:
    """An item's speculative state, what its first change's branch was at
    below it, and (p, b, commit) the same for each other branch it changes."""
    state: SpecState
    base_commit: str
    bases: SpecState = ()


@dataclass
class Commit:
    """Invariant: the commit holds the first `tip_pos` changes landed on its
    branch plus `spec`; landing empties `spec` and moves `tip_pos` (same set)."""
    key: tuple[str, str]
    tip_pos: int
    spec: frozenset[str]
    content: int                  # sum of change hashes, mod 2**64: a set hash
    bad: frozenset[str]           # bad changes in it (they never land)


class Repos:
    """Every branch of every project the trace names, starting empty."""

    def __init__(self, trace: Trace):
        self.changes = trace.by_id()
        self.partners: dict[str, set[str]] = {c.id: set() for c in trace.changes}
        for c in trace.changes:
            for other in c.conflicts:             # textual conflicts go both ways
                self.partners[c.id].add(other)
                self.partners[other].add(c.id)
        self.commits: dict[str, Commit] = {}
        self.tips: dict[tuple[str, str], str] = {}
        self.landed_at: dict[str, int] = {}       # change -> its position on its branch
        self.landings: dict[tuple[str, str], int] = {}

    def tip(self, key: tuple[str, str]) -> str:
        if key not in self.tips:
            name = f"{key[0]}/{key[1]}"
            self.commits[name] = Commit(key, 0, frozenset(), change_hash(name), frozenset())
            self.tips[key], self.landings[key] = name, 0
        return self.tips[key]

    def contains(self, commit: Commit, change: str) -> bool:
        return change in commit.spec or self.landed_at.get(change, commit.tip_pos) < commit.tip_pos

    def merge(self, base: SpecState, need, changes: list[TraceChange]) -> Merged | str:
        """The state with `changes` (and the dependencies git brings along) on
        top of `base`, each in turn, read from the tips where `base` lacks a
        branch; or a conflict."""
        state = state_dict(base)
        for key in need:
            state.setdefault(key, self.tip(key))
        below: dict[tuple[str, str], str] = {}
        for change in changes:
            key = (change.project, change.branch)
            below.setdefault(key, state.setdefault(key, self.tip(key)))
            conflict = self.merge_onto(state, change)
            if conflict:
                return conflict
        first = (changes[0].project, changes[0].branch)
        return Merged(state_tuple(state), below[first],
                      tuple(sorted((p, b, c) for (p, b), c in below.items() if (p, b) != first)))

    def merge_onto(self, state: dict, change: TraceChange) -> str | None:
        """Put `change` on its branch of `state`; the conflict, if it has one."""
        key = (change.project, change.branch)
        parent = self.commits[state[key]]
        adding = [c for c in self.with_dependencies(change) if not self.contains(parent, c)]
        for added in adding:
            for other in sorted(self.partners[added]):
                if other not in adding and self.in_state(state, other):
                    return f"{added} conflicts with {other}"
        name = f"m{len(self.commits)}"
        self.commits[name] = Commit(
            key, parent.tip_pos, parent.spec | set(adding),
            (parent.content + sum(change_hash(c) for c in adding)) & MASK,
            parent.bad | {c for c in adding if self.changes[c].bad})
        state[key] = name
        return None

    def with_dependencies(self, change: TraceChange) -> list[str]:
        """The change and every change it depends on, transitively, oldest first."""
        out: list[str] = []
        todo = [change.id]
        while todo:
            cid = todo.pop()
            if cid not in out:
                out.append(cid)
                todo.extend(self.changes[cid].depends)
        return sorted(out, key=lambda c: (self.changes[c].at, self.changes[c].line))

    def in_state(self, state: dict, change: str) -> bool:
        c = self.changes[change]
        commit = state.get((c.project, c.branch))
        return commit is not None and self.contains(self.commits[commit], change)

    def land_all(self, moves: list[tuple[tuple[str, str], str, str]]) -> bool:
        """Move every branch (key, old, new), or none if one of them had moved."""
        if any(self.tip(key) != old for key, old, _ in moves):
            return False
        for key, old, new in moves:
            self.land(key, old, new)
        return True

    def land(self, key: tuple[str, str], old: str, new: str) -> bool:
        """Compare-and-swap the tip from `old` to `new`; False if it had moved."""
        if self.tip(key) != old:
            return False
        commit = self.commits[new]
        for cid in sorted((c for c in commit.spec if c not in self.landed_at),
                          key=lambda c: (self.changes[c].at, self.changes[c].line)):
            self.landed_at[cid] = self.landings[key]
            self.landings[key] += 1
        commit.tip_pos, commit.spec = self.landings[key], frozenset()
        self.tips[key] = new
        return True

    def content(self, state: SpecState) -> int:
        return sum(self.commits[c].content for _, _, c in state) & MASK

    def is_tips(self, state: SpecState) -> bool:
        """Whether `state` holds exactly what its branches hold now (a snapshot
        built from it agrees with git)."""
        tips = tuple((p, b, self.tip((p, b))) for p, b, _ in state)
        return self.content(state) == self.content(tips)

    def bad_in(self, state: SpecState) -> set[str]:
        return set().union(*(self.commits[c].bad for _, _, c in state))
