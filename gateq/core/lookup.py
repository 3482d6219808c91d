"""Who refers to whom, so that no event scans a queue to find an item:
changes by ref (dequeue, promote, a new revision), by change number (a
review system's change, whatever its patch set), by revision (the changes
a new one depends on), and the dependents of each change.

In an independent pipeline an item's changes after its first are only
what that one needs, tested with it: they are not looked up (an event for
one of them tests it on its own), and only the first is reported.

Everything is kept by change id and found through the State's `holders`,
which map each queued change to the item holding it: a change that joins
a batch, or leaves one when it is split, is still found without a rebuild.
"""
from __future__ import annotations

from .state import Item, Member
from .types import ChangeKey, full_ref


def live(item: Item, dependent: bool) -> tuple[Member, ...]:
    """The changes the item is for: all of them, but in an independent
    pipeline its first only (the others are what it needs)."""
    return item.members if dependent or len(item.members) == 1 else item.members[:1]


class Lookup:
    def __init__(self, holders: dict[int, Item], independent: frozenset[str] = frozenset()) -> None:
        self.holders = holders
        self.independent = independent                                 # pipelines
        self.by_ref: dict[tuple[str, str, str], list[int]] = {}        # pipeline, project, ref
        self.by_number: dict[tuple[str, str, int], list[int]] = {}     # pipeline, project, number
        self.by_revision: dict[tuple[str, str, str, str, str], list[int]] = {}
        self.dependents: dict[int, list[int]] = {}                     # change id -> change ids

    @staticmethod
    def _keys(item: Item, member: Member) -> tuple[tuple[str, str, str], tuple[str, str, str, str, str]]:
        c = member.change
        return (item.pipeline, c.project, full_ref(c.ref)), (item.pipeline, item.queue, c.project, c.branch, c.revision)

    def live(self, item: Item) -> tuple[Member, ...]:
        return live(item, item.pipeline not in self.independent)

    def add(self, item: Item) -> None:
        for member in self.live(item):
            self.add_member(item, member)

    def add_member(self, item: Item, member: Member) -> None:
        ref, revision = self._keys(item, member)
        self.by_ref.setdefault(ref, []).append(member.id)
        self.by_revision.setdefault(revision, []).append(member.id)
        if member.change.number is not None:
            number = (item.pipeline, member.change.project, member.change.number)
            self.by_number.setdefault(number, []).append(member.id)
        for dep in member.depends_on:
            if dep in self.holders:
                self.dependents.setdefault(dep, []).append(member.id)

    def forget(self, item: Item, member: Member) -> None:
        """The change leaves its queue: it is found no more."""
        if item.pipeline in self.independent and member is not item.members[0]:
            return                      # only what the item's change needs: never looked up
        keys = list(zip((self.by_ref, self.by_revision), self._keys(item, member)))
        if member.change.number is not None:
            keys.append((self.by_number, (item.pipeline, member.change.project, member.change.number)))
        for table, key in keys:
            table[key].remove(member.id)
            if not table[key]:
                del table[key]
        for dep in member.depends_on:
            found = self.dependents.get(dep)
            if found and member.id in found:
                found.remove(member.id)

    def named(self, pipeline: str, project: str, ref: str) -> list[tuple[Item, Member]]:
        """Queued changes of that ref, each with the item holding it."""
        return [self.holding(i) for i in self.by_ref.get((pipeline, project, full_ref(ref)), ())]

    def same_change(self, pipeline: str, project: str, key_id: str) -> list[tuple[Item, Member]]:
        """Queued changes with that ChangeKey id (a number: any patch set; else a ref)."""
        if key_id.startswith("refs/") or not key_id.isdigit():
            return self.named(pipeline, project, key_id)
        return [self.holding(i) for i in self.by_number.get((pipeline, project, int(key_id)), ())]

    def keyed(self, pipeline: str, key: ChangeKey) -> list[tuple[Item, Member]]:
        return self.same_change(pipeline, key.project, key.id)

    def with_revisions(self, pipeline: str, queue: str, project: str, branch: str,
                       revisions: frozenset[str]) -> list[tuple[Item, Member]]:
        """Queued changes of that project and branch whose revision is one of these."""
        return [self.holding(i) for rev in revisions
                for i in self.by_revision.get((pipeline, queue, project, branch, rev), ())]

    def holding(self, change_id: int) -> tuple[Item, Member]:
        item = self.holders[change_id]
        return item, next(m for m in item.members if m.id == change_id)

    def needing(self, item: Item) -> list[Item]:
        """The other queued items holding changes that need one of this item's."""
        found: dict[int, Item] = {}
        for member in item.members:
            for other in self.dependents.get(member.id, ()):
                holder = self.holders.get(other)
                if holder is not None and holder is not item:
                    found[holder.id] = holder
        return list(found.values())

    def release(self, member: Member) -> list[int]:
        """The change leaves: the ids of the changes that needed it."""
        return self.dependents.pop(member.id, [])
