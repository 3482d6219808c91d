"""The queues and their books: adding, removing and reordering items while
keeping the lookups and each queue's tracker right, and noting which items
an event touched. It decides nothing about an item: rules.py does.
"""
from __future__ import annotations

from ..config.model import Layout
from . import jobgraph, rules
from .actions import Action, CancelBuild, Report, ReportStart
from .lifecycle import cancel_builds, describe, reset, result_record
from .lookup import Lookup
from .state import ChangeQueue, Item, Member, PipelineState, Stage, State
from .tracking import QueueTracker
from .types import Change, ItemResult, state_dict


class Queues:
    """Invariant: every item whose evaluation could change something is in
    its queue's `dirty` set, and that queue in `dirty_queues`."""

    def __init__(self, layout: Layout, state: State):
        self.layout = layout
        self.state = state
        self.ranks = {name: i for i, name in enumerate(layout.pipelines)}
        self.exporting = any(job.export for job in layout.jobs.values())
        self.requiring = any(job.requires for job in layout.jobs.values())
        self.independent = frozenset(n for n, p in layout.pipelines.items() if not p.dependent)
        self.lookup = Lookup(state.holders, self.independent)
        self.trackers: dict[tuple[str, str], QueueTracker] = {}
        self.dirty_queues: set[tuple[int, int, str, str]] = set()
        self.chains: dict[int, tuple[tuple, tuple[str, ...]]] = {}
        self.landings: dict[tuple[str, str], int] = {}
        self.rebuild()

    # -- books --------------------------------------------------------------

    def rebuild(self) -> None:
        """Derive every book from the state alone (after loading a checkpoint)."""
        self.lookup = Lookup(self.state.holders, self.independent)
        self.trackers = {}
        for pstate in self.state.pipelines.values():
            for queue in pstate.queues.values():
                queue.reorder(queue.items)
                for item in queue.items:
                    self.lookup.add(item)
                if pstate.name in self.layout.pipelines:
                    self.track(self.new_tracker(pstate.name, queue))

    def new_tracker(self, pipeline: str, queue: ChangeQueue) -> QueueTracker:
        rank = list(self.state.pipelines[pipeline].queues).index(queue.name)
        tracker = QueueTracker(rank, queue, self.layout.pipelines[pipeline], self.ranks[pipeline])
        self.trackers[(pipeline, queue.name)] = tracker
        return tracker

    def track(self, tracker: QueueTracker) -> None:
        """Book every item of a queue afresh, head first, touching nothing
        (a pipeline the layout no longer has is left alone, as the rules leave it)."""
        nnfi = None
        for position, item in enumerate(tracker.queue.items):
            self.book(tracker, item, nnfi, position)
            nnfi = tracker.nnfi_behind(item) if tracker.dependent else None
        for position, item in enumerate(tracker.queue.items):   # once every exporter is known
            self.book_ready(tracker, item, position)

    def book(self, tracker: QueueTracker, item: Item, nnfi_in: Item | None, position: int) -> list[Item]:
        """After an item was evaluated: what it passes behind it, what it
        exports and whether it fails; the items that must be evaluated again."""
        again: list[Item] = []
        if not tracker.dependent:
            return again
        failing = bool(item.failing)
        if tracker.set_carry(item, nnfi_in if failing else item):
            behind = tracker.queue.at(position + 1)
            if behind is not None:
                again.append(behind)
        if tracker.failing.get(item.id) != failing:
            tracker.failing[item.id] = failing
            if failing:
                again += self.lookup.needing(item)
        if self.exporting:
            woken = tracker.set_exports(item, () if failing else jobgraph.unfinished_exports(item, self.layout.jobs))
            if not woken:
                return again
            again += [self.state.index[i] for i in woken if i in self.state.index]
        return again

    def book_ready(self, tracker: QueueTracker, item: Item, position: int) -> None:
        """Note whether the item has builds to start, or waits for the exports ahead."""
        if not item.set_up or (item.failing and tracker.pipeline.fail_fast):
            return
        if tracker.dependent and position >= tracker.queue.window:
            return
        blocked = self.blocked_for(tracker, item)
        if jobgraph.runnable(item, self.layout.jobs, blocked):
            tracker.ready.add(item.order if tracker.dependent else item.id, item.id)
        if blocked is not jobgraph.never:
            tracker.wait(item, [r for r in jobgraph.required(item, self.layout.jobs) if blocked(r)])

    def blocked_for(self, tracker: QueueTracker, item: Item) -> jobgraph.Blocked:
        if not tracker.dependent or not self.requiring:
            return jobgraph.never
        return lambda repository: tracker.blocked(item, repository)

    def tracker_of(self, item: Item) -> QueueTracker:
        return self.trackers[(item.pipeline, item.queue)]

    def touch(self, item: Item) -> None:
        tracker = self.trackers.get((item.pipeline, item.queue))
        if tracker is not None:         # None: a pipeline the layout no longer has
            tracker.dirty.add(item.order, item.id)
            self.dirty_queues.add(tracker.key)

    def touch_ids(self, ids: list[int]) -> None:
        for item_id in ids:
            item = self.state.index.get(item_id)
            if item is not None:
                self.touch(item)

    def touch_built_on(self, item: Item) -> None:
        """The items whose speculative state is built on this one: the one
        behind, and past it while they are failing (NNFI passes over them)."""
        queue = self.state.queue_of(item)
        for other in queue.items[queue.position(item) + 1:]:
            self.touch(other)
            if not other.failing:
                break

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

    def add(self, pipeline: str, change: Change) -> list[Action]:
        """Enqueue the change: in a new item at the tail, or in the tail's batch."""
        return self.add_item(pipeline, (change,))

    def add_item(self, pipeline: str, changes: tuple[Change, ...]) -> list[Action]:
        """Enqueue changes as one item at the tail (several: a cycle, or in
        an independent pipeline a change and what it needs); a single change
        may join the tail's batch instead."""
        spec = self.layout.pipelines[pipeline]
        queue = self.queue_for(pipeline, changes[0])
        ids = range(self.state.next_item, self.state.next_item + len(changes))
        self.state.next_item += len(changes)
        group = tuple(zip(changes, ids)) if spec.dependent else ()
        members = tuple(Member(i, c, self.state.now, self.depends_on(pipeline, queue.name, c, i, group))
                        if spec.dependent or i == ids[0] else Member(i, c, self.state.now)
                        for c, i in zip(changes, ids))
        tail = queue.items[-1] if queue.items else None
        if len(members) == 1 and tail is not None and rules.joins(tail, members[0], spec):
            return self.join(tail, members[0]) + self.report_start(tail, (members[0],))
        item = Item(id=members[0].id, pipeline=pipeline, queue=queue.name, members=members,
                    jobs=self.jobs_of(pipeline, changes), sealed=len(members) > 1)
        queue.append(item)
        self.state.index[item.id] = item
        for member in members:
            self.state.holders[member.id] = item
        self.lookup.add(item)
        self.touch(item)
        return self.report_start(item, self.lookup.live(item))

    def queue_for(self, pipeline: str, change: Change) -> ChangeQueue:
        name = self.layout.projects[change.project].queue_name
        pstate = self.state.pipelines.setdefault(pipeline, PipelineState(pipeline))
        if name not in pstate.queues:
            pstate.queues[name] = ChangeQueue(name, self.layout.pipelines[pipeline].window.initial)
            self.new_tracker(pipeline, pstate.queues[name])
        return pstate.queues[name]

    def depends_on(self, pipeline: str, queue: str, change: Change, member_id: int,
                   group: tuple[tuple[Change, int], ...] = ()) -> tuple[int, ...]:
        """The ids of the queued changes this one needs: those its commits
        hold (a relation chain), then those it names (Depends-On), and in a
        cycle item, the others of the item (`group`) it needs."""
        ahead = self.lookup.with_revisions(pipeline, queue, change.project, change.branch,
                                           change.commits - {change.revision})
        if pipeline not in self.independent:       # there, an item holds what it needs itself
            for key in change.needs:
                ahead += [f for f in self.lookup.keyed(pipeline, key) if f[0].queue == queue]
        ahead.sort(key=lambda found: (found[0].order, found[0].members.index(found[1])))
        found = [m.id for _, m in ahead]
        named = {(k.project, k.id) for k in change.needs}
        found += [i for other, i in group if other.revision in change.commits
                  or (other.project, other.key_id) in named]
        return tuple(dict.fromkeys(i for i in found if i != member_id))

    def report_start(self, item: Item, members: tuple[Member, ...]) -> list[Action]:
        """A pipeline with `start:` reporters says so for each change enqueued."""
        if not self.layout.pipelines[item.pipeline].start:
            return []
        return [ReportStart(item.id, item.pipeline, tuple(m.change for m in members))]

    def jobs_of(self, pipeline: str, changes: tuple[Change, ...]) -> tuple[str, ...]:
        """The jobs an item of these changes runs: each of their projects' once
        (in an independent pipeline, its first change's: the others are what it needs)."""
        if len(changes) == 1 or pipeline in self.independent:
            return tuple(self.layout.projects[changes[0].project].pipelines.get(pipeline, ()))
        return tuple(dict.fromkeys(job for c in changes
                                   for job in self.layout.projects[c.project].pipelines.get(pipeline, ())))

    def join(self, item: Item, member: Member) -> list[Action]:
        """The batch at the tail takes one more change: it is merged again with it."""
        item.members += (member,)
        self.state.holders[member.id] = item
        self.lookup.add_member(item, member)
        return self.rebuilt(item)

    def rebuilt(self, item: Item) -> list[Action]:
        """Its changes changed: a new generation on the same base, and new jobs."""
        item.jobs = self.jobs_of(item.pipeline, item.changes)
        base = self.state.index.get(item.base) if item.base is not None else None
        actions = self.cancelled(reset(item, base, self.state.now))
        self.chains.pop(item.id, None)
        self.touch(item)
        return actions

    def split(self, item: Item) -> list[Action]:
        """A failing batch becomes its two halves, the second right behind the
        first, each tested again; neither takes new changes."""
        half = (len(item.members) + 1) // 2
        item.members, rest = item.members[:half], item.members[half:]
        item.sealed = True
        actions = self.rebuilt(item)
        other = Item(id=rest[0].id, pipeline=item.pipeline, queue=item.queue, members=rest,
                     jobs=self.jobs_of(item.pipeline, tuple(m.change for m in rest)),
                     generation=item.generation, sealed=True)
        self.state.index[other.id] = other
        for member in rest:
            self.state.holders[member.id] = other
        queue = self.state.queue_of(item)
        position = queue.position(item)
        self.reorder(queue, item.pipeline, queue.items[:position + 1] + [other] + queue.items[position + 1:])
        return actions

    def remove(self, item: Item, result: ItemResult, reason: str | None, commit: str | None = None,
               snapshot: dict[str, int] | None = None) -> list[Action]:
        """Take an item out of its queue, report each of its changes, and drop their dependents."""
        if item.stage is Stage.REMOVED:
            return []
        actions: list[Action] = self.cancelled(cancel_builds(item, self.state.now))
        queue = self.state.queue_of(item)
        position = queue.discard(item)
        item.move(Stage.REMOVED)
        del self.state.index[item.id]
        for member in item.members:
            del self.state.holders[member.id]
            self.lookup.forget(item, member)
        self.chains.pop(item.id, None)
        self.touch_ids(self.tracker_of(item).forget(item))
        for neighbour in {queue.at(position), queue.at(queue.window - 1) if position < queue.window else None}:
            if neighbour is not None:       # the one behind, and one that came into the window
                self.touch(neighbour)
        live = self.lookup.live(item)
        for member, landed_as in zip(item.members, self.commits(item, commit)):
            if member in live:
                actions.append(Report(result_record(item, member, result, reason, landed_as,
                                                    self.state.now, snapshot)))
        for member in item.members:
            actions += self.drop_dependents(member, result)
        return actions

    @staticmethod
    def commits(item: Item, commit: str | None) -> list[str | None]:
        """What each change of the item landed as: `commit` on the first
        change's branch, the item's tested commit on any other."""
        if commit is None or len(item.members) == 1:
            return [commit] * len(item.members)
        spec, first = state_dict(item.spec), (item.change.project, item.change.branch)
        return [commit if (c.project, c.branch) == first else spec.get((c.project, c.branch))
                for c in item.changes]

    def remove_change(self, item: Item, member: Member, result: ItemResult, reason: str | None) -> list[Action]:
        """Take one change out of its queue, report it and drop its dependents;
        a batch it leaves is tested again without it (in an independent
        pipeline, the item goes: the others are only what it needs)."""
        if len(item.members) == 1 or item.pipeline in self.independent:
            return self.remove(item, result, reason)
        actions: list[Action] = [Report(result_record(item, member, result, reason, None, self.state.now))]
        item.members = tuple(m for m in item.members if m is not member)
        del self.state.holders[member.id]
        self.lookup.forget(item, member)
        actions += self.rebuilt(item)
        return actions + self.drop_dependents(member, result)

    def drop_dependents(self, member: Member, result: ItemResult) -> list[Action]:
        """The change left with `result`: unless it landed, the changes that need it go too."""
        dependents = self.lookup.release(member)
        if result is ItemResult.MERGED:
            return []
        found = [self.lookup.holding(i) for i in dependents if i in self.state.holders]
        found.sort(key=lambda f: (f[0].order, f[0].members.index(f[1])))
        actions: list[Action] = []
        for other, needing in found:
            if needing.id in self.state.holders:        # not gone with an earlier one
                actions += self.remove_change(self.state.holders[needing.id], needing, ItemResult.DEQUEUED,
                                              f"depends on {member.change.name} which {describe(result)}")
        return actions

    def reorder(self, queue: ChangeQueue, pipeline: str, items: list[Item]) -> None:
        """A new order (promote): this queue's books start over, every item touched."""
        queue.reorder(items)
        self.track(self.new_tracker(pipeline, queue))
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

    def chain(self, item: Item) -> tuple[str, ...]:
        """The names of the changes in this item's speculative state, head
        first, its own last. Each item's is its base's plus its own, kept
        until a pointer moves or an item of the queue lands. (Only names are
        kept: a tuple of strings costs the garbage collector nothing.)"""
        epoch = self.landings.get((item.pipeline, item.queue), 0)
        path, current, names = [], item, ()
        while current is not None:
            hit = self.chains.get(current.id)
            if hit is not None and hit[0] == (current.generation, current.base, current.base_generation, epoch):
                names = hit[1]
                break
            path.append(current)
            current = self.state.index.get(current.base) if current.base is not None else None
        for link in reversed(path):
            members = link.members
            names += (members[0].change.name,) if len(members) == 1 else tuple(m.change.name for m in members)
            self.chains[link.id] = ((link.generation, link.base, link.base_generation, epoch), names)
        return names

    def chain_items(self, item: Item) -> list[Item]:
        """The items of this one's speculative state, head first, itself last."""
        items = []
        current: Item | None = item
        while current is not None:
            items.append(current)
            current = self.state.index.get(current.base) if current.base is not None else None
        return items[::-1]

    def find(self, pipeline: str, project: str, ref: str,
             branch: str | None = None) -> tuple[Item, Member] | None:
        """The first queued change of that ref (in queue order, then its place), with its item."""
        named = [(i, m) for i, m in self.lookup.named(pipeline, project, ref) if branch in (None, m.change.branch)]
        if len(named) > 1:
            named.sort(key=lambda f: (self.tracker_of(f[0]).rank, f[0].order, f[0].members.index(f[1])))
        return named[0] if named else None

    def find_same(self, pipeline: str, change: Change) -> tuple[Item, Member] | None:
        """The queued change this one is a revision of: the same change number
        (any patch set) for a review system's change, else the same ref and branch."""
        if change.number is None:
            return self.find(pipeline, change.project, change.ref, change.branch)
        named = self.lookup.same_change(pipeline, change.project, change.key_id)
        if len(named) > 1:
            named.sort(key=lambda f: (self.tracker_of(f[0]).rank, f[0].order, f[0].members.index(f[1])))
        return named[0] if named else None
