"""Who refers to whom, so that no event scans a queue to find an item:
changes by ref (dequeue, promote, a new revision), by revision (the
changes a new one depends on), and the dependents of each change.

Everything is kept by change id and found through the State's `holders`,
which map each queued change to the item holding it: a change that joins
a batch, or leaves one when it is split, is still found without a rebuild.
"""
from __future__ import annotations

from .state import Item, Member
from .types import full_ref


class Lookup:
    def __init__(self, holders: dict[int, Item]) -> None:
        self.holders = holders
        self.by_ref: dict[tuple[str, str, str], list[int]] = {}        # pipeline, project, ref
        self.by_revision: dict[tuple[str, str, str, str, str], list[int]] = {}
        self.dependents: dict[int, list[int]] = {}                     # change id -> change ids

    @staticmethod
    def _keys(item: Item, member: Member) -> tuple[tuple[str, str, str], tuple[str, str, str, str, str]]:
        c = member.change
        return (item.pipeline, c.project, full_ref(c.ref)), (item.pipeline, item.queue, c.project, c.branch, c.revision)

    def add(self, item: Item) -> None:
        for member in item.members:
            self.add_member(item, member)

    def add_member(self, item: Item, member: Member) -> None:
        ref, revision = self._keys(item, member)
        self.by_ref.setdefault(ref, []).append(member.id)
        self.by_revision.setdefault(revision, []).append(member.id)
        for dep in member.depends_on:
            if dep in self.holders:
                self.dependents.setdefault(dep, []).append(member.id)

    def forget(self, item: Item, member: Member) -> None:
        """The change leaves its queue: it is found no more."""
        for table, key in zip((self.by_ref, self.by_revision), self._keys(item, member)):
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
