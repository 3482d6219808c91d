"""The scheduling algorithm gateq had before its core tracked what changed:
one full pass over every queue after every event. Kept here, outside gateq,
as the specification of the core's decisions: simple to read, slow to run
(every event costs the whole gate), so tests/test_core_equivalence.py feeds
random events to both and compares every action, and bench/scheduler.py
times it side by side with the core.

Copied from gateq/core at ec3fb80 (merge conflicts final at the head), then
taught what the core learnt since, each marked NEW below: merge failures
that are final at once (a missing change or branch), fail_fast and
merge_in_window_only, skipping unreachable builds until none is left, and a
reset that clears `failing` on an item that had asked for nothing yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gateq.config.model import Layout, Pipeline
from gateq.core import actions as act
from gateq.core import events as ev
from gateq.core.types import BuildState, Change, ItemResult, JobResult, MergeFailure, same_ref, state_dict
from gateq.core.window import grow, shrink

PENDING, REQUESTED, MERGED, CONFLICT = "pending", "requested", "merged", "conflict"


@dataclass(eq=False)
class Build:
    id: str
    job: str
    state: BuildState = BuildState.WAITING
    result: JobResult | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(eq=False)
class Item:
    id: int
    pipeline: str
    queue: str
    change: Change
    enqueued_at: float
    jobs: tuple[str, ...]
    depends_on: tuple[int, ...] = ()
    generation: int = 0
    base: int | None = None
    base_generation: int | None = None
    merge: str = PENDING
    state: tuple = ()
    base_commit: str | None = None
    builds: dict[str, Build] = field(default_factory=dict)
    failing: str | None = None
    landing: bool = False
    started: bool = False
    removed: bool = False

    def build_id(self, job: str) -> str:
        return f"{self.id}-{self.generation}-{job}"


@dataclass(eq=False)
class Queue:
    name: str
    window: int
    items: list[Item] = field(default_factory=list)


def describe(result: ItemResult) -> str:
    return {ItemResult.FAILED: "failed", ItemResult.MERGE_CONFLICT: "was ejected as a merge conflict",
            ItemResult.CHANGE_MISSING: "was ejected: its commit is missing",
            ItemResult.BRANCH_MISSING: "was ejected: its branch is missing",
            ItemResult.DEQUEUED: "was dequeued"}.get(result, result.value)


class Reference:
    """`step(event) -> actions`, like gateq.core.scheduler.Scheduler; Report
    actions carry the result's JSON form (a dict)."""

    def __init__(self, layout: Layout, slots: int):
        self.layout, self.slots = layout, slots
        self.pipelines: dict[str, dict[str, Queue]] = {}
        self.index: dict[int, Item] = {}
        self.next_item = 1
        self.builds: dict[str, int] = {}
        self.now = 0.0

    def step(self, event) -> list:
        self.now = max(self.now, event.at)
        actions: list = []
        getattr(self, "on_" + type(event).__name__)(event, actions)
        self.process(actions)
        return actions

    def resume(self) -> list:
        for queues in self.pipelines.values():
            for queue in queues.values():
                for item in queue.items:
                    if item.merge == REQUESTED:
                        item.merge = PENDING
                    for build in item.builds.values():
                        if build.state is BuildState.RUNNING:
                            build.state = BuildState.WAITING
                    item.landing = False
        self.builds.clear()
        actions: list = []
        self.process(actions)
        return actions

    # -- handlers ---------------------------------------------------------------

    def on_TriggerEvent(self, event, actions):
        project = self.layout.projects.get(event.change.project)
        if project is None:
            return
        for pipeline in self.layout.pipelines.values():
            matches = any(t.connection == event.connection and t.event == event.kind
                          for t in pipeline.triggers)
            if matches and pipeline.name in project.pipelines:
                self.enqueue(pipeline.name, event.change, actions)

    def on_EnqueueRequested(self, event, actions):
        if event.pipeline in self.layout.pipelines and event.change.project in self.layout.projects:
            self.enqueue(event.pipeline, event.change, actions)

    def on_DequeueRequested(self, event, actions):
        item = self.find_change(event.pipeline, event.project, event.ref)
        if item is not None and not item.landing:
            self.remove(item, ItemResult.DEQUEUED, "dequeued by request", actions)

    def on_PromoteRequested(self, event, actions):
        item = self.find_change(event.pipeline, event.project, event.ref)
        if item is None:
            return
        queue = self.pipelines[item.pipeline][item.queue]
        moving = set(self.ahead_dependencies(item)) | {item.id}
        landing = [i for i in queue.items if i.landing and i.id not in moving]
        promoted = [i for i in queue.items if i.id in moving]
        rest = [i for i in queue.items if i.id not in moving and not i.landing]
        queue.items = landing + promoted + rest

    def on_MergeCompleted(self, event, actions):
        item = self.index.get(event.item)
        if item is None or item.generation != event.generation or item.merge != REQUESTED:
            return
        if event.failure is not None and event.failure is not MergeFailure.CONFLICT:   # NEW
            self.remove(item, event.failure.result, event.reason, actions)
        elif event.failure is not None:
            item.merge, item.failing = CONFLICT, event.reason     # NEW: the conflict is the reason
        else:
            item.merge, item.state, item.base_commit = MERGED, event.state, event.base_commit

    def on_BuildCompleted(self, event, actions):
        item_id = self.builds.pop(event.build, None)
        item = self.index.get(item_id) if item_id is not None else None
        if item is None:
            return
        build = next((b for b in item.builds.values() if b.id == event.build), None)
        if build is not None and build.state is BuildState.RUNNING:
            build.state, build.result, build.finished_at = BuildState.DONE, event.result, event.at
            if event.result is not JobResult.SUCCESS and self.layout.jobs[build.job].voting \
                    and not item.failing:
                item.failing = f"job {build.job} {event.result.value}" + (
                    f": {event.detail}" if event.detail else "")

    def on_LandCompleted(self, event, actions):
        item = self.index.get(event.item)
        if item is None or item.generation != event.generation or not item.landing:
            return
        item.landing = False
        if not event.ok:
            self.reset(item, None, actions)
            return
        queue = self.pipelines[item.pipeline][item.queue]
        queue.window = grow(queue.window, self.layout.pipelines[item.pipeline].window)
        for other in queue.items:
            if other.base == item.id:
                other.base, other.base_generation = None, None
        self.remove(item, ItemResult.MERGED, None, actions, commit=event.commit,
                    snapshot=dict(event.snapshots) or None)

    # -- operations -------------------------------------------------------------

    def enqueue(self, pipeline_name: str, change: Change, actions) -> None:
        pipeline = self.layout.pipelines[pipeline_name]
        project = self.layout.projects[change.project]
        queues = self.pipelines.setdefault(pipeline_name, {})
        old = self.find_change(pipeline_name, change.project, change.ref, change.branch)
        if old is not None:
            if old.change.revision == change.revision or old.landing:
                return
            self.remove(old, ItemResult.DEQUEUED,
                        f"superseded by new revision {change.revision[:12]}", actions)
        queue = queues.setdefault(project.queue_name, Queue(project.queue_name, pipeline.window.initial))
        depends = tuple(i.id for i in queue.items
                        if i.change.project == change.project and i.change.branch == change.branch
                        and i.change.revision != change.revision and i.change.revision in change.commits)
        item = Item(self.next_item, pipeline_name, queue.name, change, self.now,
                    tuple(project.pipelines.get(pipeline_name, ())), depends)
        self.next_item += 1
        queue.items.append(item)
        self.index[item.id] = item

    def remove(self, item, result, reason, actions, commit=None, snapshot=None) -> None:
        if item.removed:
            return
        self.cancel_builds(item, actions)
        item.removed = True
        del self.index[item.id]
        queue = self.pipelines[item.pipeline][item.queue]
        queue.items = [i for i in queue.items if not i.removed]
        actions.append(act.Report(record(item, result, reason, commit, self.now, snapshot)))
        if result is not ItemResult.MERGED:
            for other in list(queue.items):
                if item.id in other.depends_on:
                    self.remove(other, ItemResult.DEQUEUED,
                                f"depends on {item.change.name} which {describe(result)}", actions)

    def find_change(self, pipeline, project, ref, branch=None):
        for queue in self.pipelines.get(pipeline, {}).values():
            for item in queue.items:
                c = item.change
                if c.project == project and same_ref(c.ref, ref) and branch in (None, c.branch):
                    return item
        return None

    def ahead_dependencies(self, item) -> list[int]:
        seen: list[int] = []
        todo = list(item.depends_on)
        while todo:
            dep = todo.pop()
            if dep in self.index and dep not in seen:
                seen.append(dep)
                todo.extend(self.index[dep].depends_on)
        return seen

    def cancel_builds(self, item, actions) -> None:
        for build in item.builds.values():
            if build.state is BuildState.RUNNING:
                self.builds.pop(build.id, None)
                actions.append(act.CancelBuild(build.id))
                build.state, build.result, build.finished_at = BuildState.DONE, JobResult.CANCELLED, self.now
            elif build.state is BuildState.WAITING:
                build.state, build.result, build.finished_at = BuildState.DONE, JobResult.SKIPPED, None

    def reset(self, item, base, actions) -> None:
        if item.merge == PENDING and not item.started:
            item.base = base.id if base else None
            item.base_generation = base.generation if base else None
            item.failing = None                                   # NEW
            return
        self.cancel_builds(item, actions)
        item.generation += 1
        item.base = base.id if base else None
        item.base_generation = base.generation if base else None
        item.merge, item.state, item.base_commit = PENDING, (), None
        item.builds, item.failing, item.started = {}, None, False

    # -- the pass ---------------------------------------------------------------

    def process(self, actions) -> None:
        while True:
            ready: list = []
            removed = False
            for name, pipeline in self.layout.pipelines.items():
                for queue in self.pipelines.get(name, {}).values():
                    if pipeline.dependent:
                        removed |= self.dependent_pass(pipeline, queue, ready, actions)
                    else:
                        removed |= self.independent_pass(pipeline, queue, ready, actions)
            if not removed:
                break
        self.start_builds(self.sorted_by_priority(ready), actions)

    def dependent_pass(self, pipeline: Pipeline, queue: Queue, ready, actions) -> bool:
        nnfi = None
        position = 0
        removed = False
        exports_ahead: dict[str, int] = {}
        for item in list(queue.items):
            if item.removed:
                continue
            want = (nnfi.id, nnfi.generation) if nnfi else (None, None)
            if not item.landing and (item.base, item.base_generation) != want:
                self.reset(item, nnfi, actions)
            problem = self.dependency_problem(item)
            if problem and not item.failing:
                item.failing = problem
            if not pipeline.merge_in_window_only or position < queue.window:      # NEW
                self.request_merge(item, nnfi, actions)
            if item.merge == MERGED and position < queue.window:
                self.set_up(item)
                ready.extend((position, item, b) for b in self.ready(item, exports_ahead))
            if item.failing and pipeline.fail_fast:                               # NEW
                self.cancel_builds(item, actions)
            if position == 0 and not item.landing:
                if item.merge == CONFLICT:
                    self.remove(item, ItemResult.MERGE_CONFLICT, item.failing, actions)
                    removed = True
                    continue
                if item.failing and (pipeline.fail_fast or not item.started or self.all_done(item)):
                    queue.window = shrink(queue.window, pipeline.window)
                    self.remove(item, ItemResult.FAILED, item.failing, actions)
                    removed = True
                    continue
                if item.merge == MERGED and self.succeeded(item):
                    self.finish_head(item, pipeline, actions)
                    if item.removed:
                        removed = True
                        continue
            position += 1
            if not item.failing:
                nnfi = item
                for repo in self.unfinished_exports(item):
                    exports_ahead[repo] = exports_ahead.get(repo, 0) + 1
        return removed

    def finish_head(self, item, pipeline, actions) -> None:
        if not pipeline.merge_on_success:
            self.remove(item, ItemResult.SUCCEEDED, None, actions)
            return
        key = (item.change.project, item.change.branch)
        item.landing = True
        exported = self.exported(item)
        publish = tuple((repo, tuple(b for r, b in exported if r == repo))
                        for repo in self.layout.queue_repositories(item.queue))
        actions.append(act.Land(item.id, item.generation, key[0], key[1], old=item.base_commit,
                                new=state_dict(item.state)[key], change=item.change,
                                state=item.state, publish=publish))

    def independent_pass(self, pipeline, queue, ready, actions) -> bool:
        removed = False
        for item in list(queue.items):
            if item.removed:
                continue
            self.request_merge(item, None, actions)
            if item.merge == CONFLICT:
                self.remove(item, ItemResult.MERGE_CONFLICT, item.failing, actions)
            elif item.merge == MERGED:
                self.set_up(item)
                ready.extend((0, item, b) for b in self.ready(item, None))
                if item.failing and (pipeline.fail_fast or self.all_done(item)):  # NEW
                    self.remove(item, ItemResult.FAILED, item.failing, actions)
                elif self.succeeded(item):
                    self.remove(item, ItemResult.SUCCEEDED, None, actions)
            removed |= item.removed
        return removed

    def dependency_problem(self, item) -> str | None:
        for dep_id in item.depends_on:
            dep = self.index.get(dep_id)
            if dep is not None and dep.failing:
                return f"needed change {dep.change.name} is failing: {dep.failing}"
        return None

    def request_merge(self, item, base, actions) -> None:
        if item.merge != PENDING:
            return
        if base is not None and base.merge != MERGED:
            return
        item.merge = REQUESTED
        project = self.layout.projects[item.change.project]
        actions.append(act.PrepareMerge(item.id, item.generation, item.change, project.merge_mode,
                                        base.state if base else (), self.needed_keys(item)))

    def needed_keys(self, item):
        keys = set()
        for name in self.layout.queue_projects(item.queue):
            keys.add((name, item.change.branch))
            keys.add((name, self.layout.projects[name].default_branch))
        keys.add((item.change.project, item.change.branch))
        return tuple(sorted(keys))

    def sorted_by_priority(self, ready):
        order = {name: (0 if p.dependent else 1, i)
                 for i, (name, p) in enumerate(self.layout.pipelines.items())}
        return sorted(ready, key=lambda r: (order[r[1].pipeline], r[0], r[1].id))

    def start_builds(self, ready, actions) -> None:
        for _, item, build in ready:
            if len(self.builds) >= self.slots:
                return
            fail_fast = self.layout.pipelines[item.pipeline].fail_fast
            if item.removed or (item.failing and fail_fast):                   # NEW: fail_fast
                continue
            build.state = BuildState.RUNNING
            build.started_at = self.now
            self.builds[build.id] = item.id
            items = self.chain(item)
            artifacts = tuple(a for i in items for a in self.exported(i))
            actions.append(act.StartBuild(build.id, item.id, item.pipeline, build.job, item.change,
                                          item.state, tuple(i.change.name for i in items), artifacts))

    def chain(self, item):
        items = []
        current = item
        while current is not None:
            items.append(current)
            current = self.index.get(current.base) if current.base is not None else None
        return items[::-1]

    # -- jobs of one item ---------------------------------------------------------

    def set_up(self, item) -> None:
        if not item.started:
            item.builds = {job: Build(item.build_id(job), job) for job in item.jobs}
            item.started = True

    def ready(self, item, exports_ahead) -> list:
        jobs = self.layout.jobs
        out: list = []
        skipped = True
        while skipped:                                                  # NEW: until none is left
            skipped = False
            for build in item.builds.values():
                if build.state is not BuildState.WAITING:
                    continue
                if exports_ahead and any(exports_ahead.get(r) for r in jobs[build.job].requires):
                    continue
                deps = [item.builds[d] for d in jobs[build.job].dependencies if d in item.builds]
                failed = [d for d in deps if d.state is BuildState.DONE and d.result is not JobResult.SUCCESS]
                if failed:
                    build.state, build.result, build.finished_at = BuildState.DONE, JobResult.SKIPPED, None
                    skipped = True
                    if jobs[build.job].voting and not item.failing:
                        item.failing = f"job {build.job} skipped: dependency {failed[0].job} did not succeed"
                elif all(d.state is BuildState.DONE for d in deps) and build not in out:
                    out.append(build)
        return [b for b in out if b.state is BuildState.WAITING]

    def all_done(self, item) -> bool:
        return item.started and all(b.state is BuildState.DONE for b in item.builds.values())

    def succeeded(self, item) -> bool:
        return self.all_done(item) and not item.failing and all(
            b.result is JobResult.SUCCESS for b in item.builds.values() if self.layout.jobs[b.job].voting)

    def unfinished_exports(self, item):
        for job in item.jobs:
            build = item.builds.get(job)
            if self.layout.jobs[job].export and (build is None or build.state is not BuildState.DONE):
                yield self.layout.jobs[job].export

    def exported(self, item):
        return [(self.layout.jobs[b.job].export, b.id) for b in item.builds.values()
                if self.layout.jobs[b.job].export and b.result is JobResult.SUCCESS]


def record(item, result, reason, commit, now, snapshot) -> dict:
    jobs = []
    for job in item.jobs:
        build = item.builds.get(job)
        if build is None:
            jobs.append({"name": job, "result": JobResult.SKIPPED.value, "build": None})
        else:
            res = build.result or (JobResult.CANCELLED if build.state is BuildState.RUNNING
                                   else JobResult.SKIPPED)
            jobs.append({"name": job, "result": res.value, "build": build.id})
    c = item.change
    return {"item": item.id, "pipeline": item.pipeline, "project": c.project, "change": c.ref,
            "branch": c.branch, "revision": c.revision, "result": result.value, "commit": commit,
            "reason": reason, "jobs": jobs, "enqueued_at": item.enqueued_at, "finished_at": now,
            "snapshot": snapshot}
