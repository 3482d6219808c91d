"""The gating strategies `gateq simulate` compares, as settings of the real engine.

Every strategy runs gateq's own Scheduler; a strategy only chooses the gate
pipeline's Window, whether the export job exports to a repository that jobs
marked `requires_export` wait for (gateq's Job.export / Job.requires), and
whether the export job waits for the head (an export job that waits is just a
long build to the engine).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.model import Job, Layout, Manager, Pipeline, Project, Trigger, Window
from .trace import Trace

PIPELINE = "gate"
CONNECTION = "sim"
REPOSITORY = "artifacts"


@dataclass(frozen=True)
class Strategy:
    """`export_waits_for_head`: the export build holds its worker until the
    changes it is built on have landed and its item's other jobs succeeded,
    as rpmfactory's wait_for_other_jobs did in Zuul's gate.
    `repository`: the export job exports to a repository and jobs marked
    `requires_export` wait for the unfinished exports ahead (gateq's core)."""
    name: str
    window: Window
    export_waits_for_head: bool
    repository: bool
    summary: str


ZUUL_WINDOW = Window(initial=20, floor=3, ceiling=None, increase_type="linear", increase_factor=1,
                     decrease_type="exponential", decrease_factor=2)

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("serial", Window(initial=1, floor=1, ceiling=1), False, True,
             "gateq with the window fixed at 1: one item at a time, export included"),
    Strategy("zuul", ZUUL_WINDOW, True, False,
             "Zuul's dependent queue (window 20, floor 3, +1 on landing, halved on failure, "
             "nearest-non-failing-item resets); the export job waits at the head of the gate "
             "and no job sees the artifacts of the changes ahead"),
    Strategy("gateq", Window(), False, True,
             "gateq's defaults (window: today the same numbers as Zuul's) and the same resets; "
             "the export runs speculatively, jobs requiring it wait for the exports ahead, "
             "landing publishes"),
)}


def pick(names: list[str] | None) -> list[Strategy]:
    names = names or list(STRATEGIES)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy '{unknown[0]}' (choose from {', '.join(STRATEGIES)})")
    return [STRATEGIES[n] for n in dict.fromkeys(names)]


def build_layout(trace: Trace, strategy: Strategy) -> Layout:
    """One dependent gate pipeline that lands on success; a project per trace project."""
    jobs: dict[str, Job] = {}
    projects: dict[str, Project] = {}
    for change in trace.changes:
        for j in change.jobs:
            jobs.setdefault(j.name, Job(
                j.name, run="/bin/true", dependencies=j.needs,
                export=REPOSITORY if strategy.repository and j.export else None,
                requires=(REPOSITORY,) if strategy.repository and j.requires_export else ()))
        if change.project not in projects:
            projects[change.project] = Project(
                change.project, CONNECTION, queue=change.queue, default_branch=change.branch,
                pipelines={PIPELINE: tuple(j.name for j in change.jobs)})
    gate = Pipeline(PIPELINE, Manager.DEPENDENT, (Trigger(CONNECTION, "approved"),),
                    merge_on_success=True, window=strategy.window)
    return Layout(pipelines={PIPELINE: gate}, jobs=jobs, projects=projects,
                  queues=frozenset(p.queue_name for p in projects.values()))
