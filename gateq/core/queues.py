"""The queues and their books: adding, removing and reordering items while
keeping the lookups and each queue's tracker right, and noting which items
an event touched. It decides nothing about an item: rules.py does.
"""
from __future__ import annotations

from ..config.model import Layout
from . import jobgraph
from .actions import Action, CancelBuild, Report
from .lifecycle import cancel_builds, describe, result_record
from .lookup import Lookup
from .state import ChangeQueue, Item, PipelineState, Stage, State
from .tracking import QueueTracker
from .types import Change, ItemResult


class Queues:
    """Invariant: every item whose evaluation could change something is in
    its queue's `dirty` set, and that queue in `dirty_queues`."""

    def __init__(self, layout: Layout, state: State):
        self.layout = layout
        self.state = state
        self.ranks = {name: i for i, name in enumerate(layout.pipelines)}
        self.lookup = Lookup()
        self.trackers: dict[tuple[str, str], QueueTracker] = {}
        self.dirty_queues: set[tuple[int, int, str, str]] = set()
        self.chains: dict[int, tuple[tuple, tuple[Item, ...], tuple[str, ...]]] = {}
        self.landings: dict[tuple[str, str], int] = {}
        self.rebuild()

    # -- books --------------------------------------------------------------

    def rebuild(self) -> None:
        """Derive every book from the state alone (after loading a checkpoint)."""
        self.lookup = Lookup()
        self.trackers = {}
        for pstate in self.state.pipelines.values():
            for queue in pstate.queues.values():
                queue.reorder(queue.items)
                for item in queue.items:
                    self.lookup.add(item, self.state.index)
                self.track(queue, pstate.name)

    def track(self, queue: ChangeQueue, pipeline: str) -> None:
        """Book every item of a queue afresh, head first, touching nothing
        (a pipeline the layout no longer has is left alone, as the rules leave it)."""
        if pipeline not in self.layout.pipelines:
            return
        dependent = self.layout.pipelines[pipeline].dependent
        tracker = self.tracker(pipeline, queue.name)
        nnfi = None
        for item in queue.items:
            self.book(item, nnfi)
            nnfi = tracker.nnfi_behind(item) if dependent else None
        for item in queue.items:                # waiting is judged once every exporter is known
            self.book_ready(item)

    def book(self, item: Item, nnfi_in: Item | None) -> list[Item]:
        """After an item was evaluated: what it passes behind it, what it
        exports and whether it fails; the items that must be evaluated again."""
        tracker = self.tracker_of(item)
        again: list[Item] = []
        if not self.layout.pipelines[item.pipeline].dependent:
            return again
        failing = bool(item.failing)
        if tracker.set_carry(item, nnfi_in if failing else item):
            behind = self.state.queue_of(item).at(self.state.queue_of(item).position(item) + 1)
            again += [behind] if behind is not None else []
        if tracker.failing.get(item.id) != failing:
            tracker.failing[item.id] = failing
            again += [i for i in self.lookup.dependents.get(item.id, ()) if failing]
        woken = tracker.set_exports(item, () if failing else jobgraph.unfinished_exports(item, self.layout.jobs))
        again += [self.state.index[i] for i in woken if i in self.state.index]
        return again

    def book_ready(self, item: Item) -> None:
        """Note whether the item has builds to start, or waits for the exports ahead."""
        pipeline = self.layout.pipelines[item.pipeline]
        if not item.set_up or (item.failing and pipeline.fail_fast) or not self.in_window(item):
            return
        tracker = self.tracker_of(item)
        blocked = self.blocked_for(item)
        if jobgraph.runnable(item, self.layout.jobs, blocked):
            tracker.ready.add(item.order if pipeline.dependent else item.id, item.id)
        tracker.wait(item, [r for r in jobgraph.required(item, self.layout.jobs) if blocked(r)])

    def in_window(self, item: Item) -> bool:
        if not self.layout.pipelines[item.pipeline].dependent:
            return True
        queue = self.state.queue_of(item)
        return queue.position(item) < queue.window

    def blocked_for(self, item: Item) -> jobgraph.Blocked:
        if not self.layout.pipelines[item.pipeline].dependent:
            return jobgraph.never
        tracker = self.tracker_of(item)
        return lambda repository: tracker.blocked(item, repository)

    def tracker(self, pipeline: str, queue: str) -> QueueTracker:
        key = (pipeline, queue)
        if key not in self.trackers:
            rank = list(self.state.pipelines[pipeline].queues).index(queue)
            self.trackers[key] = QueueTracker(rank)
        return self.trackers[key]

    def tracker_of(self, item: Item) -> QueueTracker:
        return self.tracker(item.pipeline, item.queue)

    def touch(self, item: Item) -> None:
        tracker = self.tracker_of(item)
        tracker.touch(item)
        if item.pipeline in self.ranks:
            self.dirty_queues.add((self.ranks[item.pipeline], tracker.rank, item.pipeline, item.queue))

    def touch_ids(self, ids: list[int]) -> None:
        for item_id in ids:
            item = self.state.index.get(item_id)
            if item is not None:
                self.touch(item)

    def touch_window(self, queue: ChangeQueue, start: int, end: int) -> None:
        """Items at positions [start, end) have just come inside the window."""
        for item in queue.items[start:end]:
            self.touch(item)

    def cancelled(self, actions: list[Action]) -> list[Action]:
        """Builds being cancelled no longer hold a slot."""
        for action in actions:
            if isinstance(action, CancelBuild):
                self.state.builds.pop(action.build, None)
        return actions

    # -- items coming and going ------------------------------------------------

    def add(self, pipeline: str, change: Change) -> Item:
        project = self.layout.projects[change.project]
        pstate = self.state.pipelines.setdefault(pipeline, PipelineState(pipeline))
        name = project.queue_name
        if name not in pstate.queues:
            pstate.queues[name] = ChangeQueue(name, self.layout.pipelines[pipeline].window.initial)
        queue = pstate.queues[name]
        ahead = self.lookup.with_revisions(pipeline, name, change.project, change.branch,
                                           change.commits - {change.revision})
        item = Item(id=self.state.next_item, pipeline=pipeline, queue=name, change=change,
                    enqueued_at=self.state.now, jobs=tuple(project.pipelines.get(pipeline, ())),
                    depends_on=tuple(i.id for i in sorted(ahead, key=queue.position)))
        self.state.next_item += 1
        queue.append(item)
        self.state.index[item.id] = item
        self.lookup.add(item, self.state.index)
        self.touch(item)
        return item

    def remove(self, item: Item, result: ItemResult, reason: str | None, commit: str | None = None,
               snapshot: dict[str, int] | None = None) -> list[Action]:
        """Take an item out of its queue, report it, and drop its dependents."""
        if item.stage is Stage.REMOVED:
            return []
        actions: list[Action] = self.cancelled(cancel_builds(item, self.state.now))
        queue = self.state.queue_of(item)
        position = queue.discard(item)
        item.move(Stage.REMOVED)
        del self.state.index[item.id]
        self.lookup.forget(item)
        self.chains.pop(item.id, None)
        self.touch_ids(self.tracker_of(item).forget(item))
        for neighbour in {queue.at(position), queue.at(queue.window - 1) if position < queue.window else None}:
            if neighbour is not None:       # the one behind, and one that came into the window
                self.touch(neighbour)
        actions.append(Report(result_record(item, result, reason, commit, self.state.now, snapshot)))
        dependents = self.lookup.dependents_of(item)
        if result is not ItemResult.MERGED:
            for other in sorted(dependents, key=lambda i: i.order):
                actions += self.remove(other, ItemResult.DEQUEUED,
                                       f"depends on {item.change.name} which {describe(result)}")
        return actions

    def reorder(self, queue: ChangeQueue, pipeline: str, items: list[Item]) -> None:
        """A new order (promote): this queue's books start over, every item touched."""
        queue.reorder(items)
        key = (pipeline, queue.name)
        self.trackers[key] = QueueTracker(self.trackers[key].rank)
        self.track(queue, pipeline)
        for item in items:
            self.touch(item)

    def landed(self, item: Item) -> None:
        """The head landed: its branch holds it now, so the items behind build
        on the tips, and no chain ahead of them names it any longer."""
        queue = self.state.queue_of(item)
        key = (item.pipeline, item.queue)
        self.landings[key] = self.landings.get(key, 0) + 1
        for other in queue.items[queue.position(item) + 1:]:
            if other.base == item.id:
                other.base, other.base_generation = None, None
            if not other.failing:       # the nearest non-failing item behind: no one further is built on it
                break

    def chain(self, item: Item) -> tuple[tuple[Item, ...], tuple[str, ...]]:
        """The items of this one's speculative state, head first, itself last,
        and their names; each item's chain is its base's plus itself, kept
        until a pointer moves or an item of the queue lands."""
        epoch = self.landings.get((item.pipeline, item.queue), 0)
        path, current, items, names = [], item, (), ()
        while current is not None:
            hit = self.chains.get(current.id)
            if hit is not None and hit[0] == (current.generation, current.base, current.base_generation, epoch):
                items, names = hit[1], hit[2]
                break
            path.append(current)
            current = self.state.index.get(current.base) if current.base is not None else None
        for link in reversed(path):
            items, names = items + (link,), names + (link.change.name,)
            self.chains[link.id] = ((link.generation, link.base, link.base_generation, epoch), items, names)
        return items, names

    def find(self, pipeline: str, project: str, ref: str, branch: str | None = None) -> Item | None:
        """The first queued item of that change (in queue order, then its place)."""
        named = [i for i in self.lookup.named(pipeline, project, ref) if branch in (None, i.change.branch)]
        if len(named) > 1:
            named.sort(key=lambda i: (self.tracker_of(i).rank, self.state.queue_of(i).position(i)))
        return named[0] if named else None
