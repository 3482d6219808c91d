"""The gating strategies `gateq simulate` compares, as settings of the real engine.

Every strategy runs gateq's own Scheduler; a strategy is a name, where the
export runs (`ExportAt`), and settings handed unchanged to the layout's
Pipeline and Job objects. A new strategy of the core (retries, batching,
speculation) is a new entry of STRATEGIES naming its settings, no code.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

from ..config.model import BatchKind, Job, Layout, Manager, Pipeline, Project, Trigger, Window
from .trace import Trace

PIPELINE = "gate"
POST_PIPELINE = "post"
CONNECTION = "sim"
REPOSITORY = "artifacts"


class ExportAt(enum.Enum):
    """Where the trace's export job runs and when its snapshot is published."""
    GATE = "gate"    # speculatively in the gate (Job.export); the landing publishes it
    HEAD = "head"    # in the gate, but it holds its worker until it reaches the head
    POST = "post"    # after landing, in an independent post pipeline that publishes


@dataclass(frozen=True)
class Strategy:
    """`pipeline` and `job` are keyword settings of config.model.Pipeline and
    Job (every job of the layout), exactly as the layout loader would set them."""
    name: str
    summary: str
    export: ExportAt
    pipeline: Mapping[str, object] = field(default_factory=dict)
    job: Mapping[str, object] = field(default_factory=dict)

    @property
    def repository(self) -> bool:
        """The export job exports to a repository that `requires_export` jobs wait for."""
        return self.export is ExportAt.GATE

    @property
    def batch(self) -> int:
        """The most changes it tests as one item (Pipeline.batch_size)."""
        return int(self.pipeline.get("batch_size", 1))

    @property
    def series(self) -> bool:
        """Only a series' changes share an item (Pipeline.batch_kind)."""
        return self.pipeline.get("batch_kind") is BatchKind.SERIES

    @property
    def export_waits_for_head(self) -> bool:
        return self.export is ExportAt.HEAD

    def gates(self, job) -> bool:
        """Whether a trace job runs in the gate (a post export does not)."""
        return not (job.export and self.export is ExportAt.POST)


ZUUL_WINDOW = Window(initial=20, floor=3, ceiling=None, increase_type="linear", increase_factor=1,
                     decrease_type="exponential", decrease_factor=2)
# What Zuul's dependent pipeline does that costs workers: a failing item's
# builds run on until it leaves the queue, and items merge only in the window.
ZUUL_PIPELINE = {"window": ZUUL_WINDOW, "fail_fast": False, "merge_in_window_only": True}

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("serial", "gateq with the window fixed at 1: one item at a time, export included",
             ExportAt.GATE, {"window": Window(initial=1, floor=1, ceiling=1)}),
    Strategy("zuul", "Zuul's dependent queue (window 20, floor 3, +1 on landing, halved on failure, "
             "failing builds run on, merges only in the window); the export job waits at the head "
             "of the gate on its worker (wait-for-other-jobs) and no job sees the artifacts ahead",
             ExportAt.HEAD, ZUUL_PIPELINE),
    Strategy("zuul-post", "the same Zuul gate without the export; each landed change's export runs "
             "in a post pipeline (lower priority for workers) and publishes when it ends, so the "
             "repository lags git or goes back in time",
             ExportAt.POST, ZUUL_PIPELINE),
    Strategy("gateq", "gateq's defaults (config.model.Pipeline: window 20, floor 3, -2 on failure, "
             "fail-fast, merges ahead of the window); the export runs speculatively, jobs requiring "
             "it wait for the exports ahead, landing publishes", ExportAt.GATE),
    Strategy("gateq-series", "gateq's defaults, and two changes of a patch series are tested as one "
             "item (batch-kind series, batch-size 2), split when it fails",
             ExportAt.GATE, {"batch_size": 2, "batch_kind": BatchKind.SERIES}),
    Strategy("gateq-batch", "gateq's defaults, and up to 4 changes arriving while the tail of the "
             "queue waits are tested as one item (batch-size 4), split in halves when it fails",
             ExportAt.GATE, {"batch_size": 4}),
)}


# serial is left out unless asked for: where changes arrive faster than one
# critical path each, its queue never drains and its figures grow with the trace.
DEFAULT = ("zuul", "zuul-post", "gateq")


def pick(names: list[str] | None) -> list[Strategy]:
    names = names or list(DEFAULT)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy '{unknown[0]}' (choose from {', '.join(STRATEGIES)})")
    return [STRATEGIES[n] for n in dict.fromkeys(names)]


def build_layout(trace: Trace, strategy: Strategy) -> Layout:
    """A dependent gate pipeline that lands on success, a project per trace
    project, and for ExportAt.POST an independent post pipeline running the export."""
    jobs: dict[str, Job] = {}
    projects: dict[str, Project] = {}
    for change in trace.changes:
        for j in change.jobs:
            jobs.setdefault(j.name, Job(
                j.name, run="/bin/true",
                dependencies=tuple(n for n in j.needs if strategy.gates(change.job(n))),
                export=REPOSITORY if strategy.repository and j.export else None,
                requires=(REPOSITORY,) if strategy.repository and j.requires_export else (),
                **strategy.job))
        if change.project not in projects:
            runs = {PIPELINE: tuple(j.name for j in change.jobs if strategy.gates(j))}
            post = tuple(j.name for j in change.jobs if not strategy.gates(j))
            if post:
                runs[POST_PIPELINE] = post
            projects[change.project] = Project(change.project, CONNECTION, queue=change.queue,
                                               default_branch=change.branch, pipelines=runs)
    trigger = (Trigger(CONNECTION, "approved"),)
    pipelines = {PIPELINE: Pipeline(PIPELINE, Manager.DEPENDENT, trigger, merge_on_success=True,
                                    **strategy.pipeline)}
    if strategy.export is ExportAt.POST:
        pipelines[POST_PIPELINE] = Pipeline(POST_PIPELINE, Manager.INDEPENDENT)
    return Layout(pipelines=pipelines, jobs=jobs, projects=projects,
                  queues=frozenset(p.queue_name for p in projects.values()))
