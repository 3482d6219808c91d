"""Who refers to whom, so that no event scans a queue to find an item:
items by change ref (dequeue, promote, a new revision), by revision (the
changes a new one depends on), and the dependents of each item.
"""
from __future__ import annotations

from .state import Item
from .types import full_ref


class Lookup:
    def __init__(self) -> None:
        self.by_ref: dict[tuple[str, str, str], list[Item]] = {}        # pipeline, project, ref
        self.by_revision: dict[tuple[str, str, str, str, str], list[Item]] = {}
        self.dependents: dict[int, list[Item]] = {}

    @staticmethod
    def _ref_key(item: Item) -> tuple[str, str, str]:
        return item.pipeline, item.change.project, full_ref(item.change.ref)

    @staticmethod
    def _revision_key(item: Item) -> tuple[str, str, str, str, str]:
        c = item.change
        return item.pipeline, item.queue, c.project, c.branch, c.revision

    def add(self, item: Item, index: dict[int, Item]) -> None:
        self.by_ref.setdefault(self._ref_key(item), []).append(item)
        self.by_revision.setdefault(self._revision_key(item), []).append(item)
        for dep in item.depends_on:
            if dep in index:
                self.dependents.setdefault(dep, []).append(item)

    def forget(self, item: Item) -> None:
        for table, key in ((self.by_ref, self._ref_key(item)),
                           (self.by_revision, self._revision_key(item))):
            table[key].remove(item)
            if not table[key]:
                del table[key]
        for dep in item.depends_on:
            found = self.dependents.get(dep)
            if found and item in found:
                found.remove(item)

    def named(self, pipeline: str, project: str, ref: str) -> list[Item]:
        return self.by_ref.get((pipeline, project, full_ref(ref)), [])

    def with_revisions(self, pipeline: str, queue: str, project: str, branch: str,
                       revisions: frozenset[str]) -> list[Item]:
        """Queued items of that project and branch whose revision is one of these."""
        return [i for rev in revisions
                for i in self.by_revision.get((pipeline, queue, project, branch, rev), ())]

    def needing(self, item: Item) -> list[Item]:
        """The queued items that depend on this one."""
        return self.dependents.get(item.id, [])

    def release(self, item: Item) -> list[Item]:
        """The item leaves: its dependents, who need it no longer recorded."""
        return self.dependents.pop(item.id, [])
