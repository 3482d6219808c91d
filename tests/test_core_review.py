"""Issue 10, the core: code review drives the gate, in scenarios on the real
Scheduler. A review system stands around it (ReviewWorld): Gerrit-like
changes (numbers, patch sets, votes, Depends-On) on a `review` connection,
whose current state a test sets, answering the checks before landing from
it (or holding them). It extends tests/scheduler_world.py's World (merges as
strings, branch tips in a dict) and keeps every event it fed, for the
checkpoint tests (test_core_needs.py uses it too).
"""
from __future__ import annotations

from gateq.config.model import Job, Layout, Manager, Pipeline, Project, QueueSettings, Reporter, \
    Requirement, Trigger
from gateq.core import actions as act
from gateq.core import events as ev
from gateq.core.types import Change, ChangeKey, NeededChange, ReviewState

from scheduler_world import World

CR2, W1, CR1 = ("Code-Review", 2), ("Workflow", 1), ("Code-Review", 1)
RECHECK = r"(?i)^\s*recheck\s*$"


def review_layout(circular: bool = False, projects=("nova", "glance"), queue="integrated",
                  other_queue: tuple[str, ...] = ()) -> Layout:
    """gate: Workflow+1 on a change with Code-Review+2 (required); check: a
    new patch set, or `recheck`. `other_queue`: projects in a queue of their own."""
    gate = Pipeline("gate", Manager.DEPENDENT,
                    (Trigger("review", "comment-added", approvals=(W1,)),),
                    merge_on_success=True,
                    requirements=(Requirement("review", approvals=(CR2,), open=True, current_patchset=True),),
                    start=(Reporter("review"),),
                    success=(Reporter("review", (("Verified", 2),), submit=True),))
    check = Pipeline("check", Manager.INDEPENDENT,
                     (Trigger("review", "patchset-created"),
                      Trigger("review", "comment-added", comment=RECHECK)))
    return Layout(
        pipelines={"gate": gate, "check": check},
        jobs={"unit": Job("unit", "/bin/true")},
        projects={p: Project(p, "review", queue=(p if p in other_queue else queue),
                             pipelines={"gate": ("unit",), "check": ("unit",)})
                  for p in (*projects, *other_queue)},
        queues=frozenset({queue}),
        queue_settings={queue: QueueSettings(queue, allow_circular_dependencies=circular)})


def gerrit_change(project: str, number: int, patchset: int = 1, needs=(), parents=()) -> Change:
    """A patch set: `needs` are Depends-On numbers (project, number); `parents`
    are changes its commit is based on (a relation chain: their revisions are in its commits)."""
    revision = f"rev-{number}-{patchset}"
    return Change(project, f"refs/changes/{number % 100:02d}/{number}/{patchset}", "main", revision,
                  frozenset({revision, *(p.revision for p in parents)}), number=number, patchset=patchset,
                  url=f"https://review.example.org/{number}",
                  needs=tuple(ChangeKey("review", p, str(n)) for p, n in needs)
                  + tuple(ChangeKey("review", p.project, str(p.number)) for p in parents))


class ReviewWorld(World):
    def __init__(self, lay: Layout | None = None, slots: int = 100):
        super().__init__(lay or review_layout(), slots)
        self.tips = {(p, "main"): "tip" for p in self.scheduler.layout.projects}
        self.reviews: dict[int, ReviewState] = {}
        self.checks: list[act.CheckChange] = []      # asked, not answered
        self.asked: list[act.CheckChange] = []       # every check asked
        self.starts: list[act.ReportStart] = []
        self.merges: list[act.PrepareMerge] = []
        self.fed: list = []
        self.hold_checks = False

    def feed(self, event) -> None:
        self.fed.append(event)
        super().feed(event)

    def handle(self, actions) -> None:
        for action in actions:
            if isinstance(action, act.CheckChange):
                self.asked.append(action)
                self.checks.append(action)
                if not self.hold_checks:
                    self.answer()
            elif isinstance(action, act.ReportStart):
                self.starts.append(action)
            elif isinstance(action, act.PrepareMerge):
                self.merges.append(action)
        super().handle([a for a in actions if not isinstance(a, (act.CheckChange, act.ReportStart))])

    # -- the review system ------------------------------------------------------

    def state(self, number: int, *votes, open: bool = True, current: bool = True,
              wip: bool = False) -> ReviewState:
        self.reviews[number] = ReviewState(open, wip, current, tuple(votes))
        return self.reviews[number]

    def needed(self, *changes: Change, status: dict[int, str] | None = None) -> tuple[NeededChange, ...]:
        """What the engine would tell of these changes: open ones pinned, with their state."""
        status = status or {}
        out = []
        for c in changes:
            s = status.get(c.number, "open")
            out.append(NeededChange(ChangeKey("review", c.project, str(c.number)), s,
                                    c if s == "open" else None, self.reviews.get(c.number) if s == "open" else None))
        return tuple(out)

    def comment(self, change: Change, *carried, comment: str | None = None, needed=()) -> None:
        """A comment-added event carrying `carried` votes; the change's state is what `state` set."""
        self.feed(ev.TriggerEvent(self.tick(), "review", "comment-added", change, tuple(carried), comment,
                                  self.reviews[change.number], needed))

    def upload(self, change: Change, needed=()) -> None:
        review = self.reviews.get(change.number) or self.state(change.number)
        self.feed(ev.TriggerEvent(self.tick(), "review", "patchset-created", change, (), None, review, needed))

    def abandon(self, change: Change) -> None:
        review = self.state(change.number, open=False)
        self.feed(ev.TriggerEvent(self.tick(), "review", "change-abandoned", change, (), None, review))

    def approve_change(self, change: Change, needed=()) -> None:
        """Code-Review+2 already there, then Workflow+1."""
        self.state(change.number, CR2, W1)
        self.comment(change, W1, needed=needed)

    def answer(self, review: ReviewState | None = None, reason: str | None = None) -> None:
        """Answer the checks asked so far, from the review system's state now (or as given)."""
        asked, self.checks = self.checks, []
        for check in asked:
            state = review if review is not None or reason is not None else self.reviews[check.change.number]
            self.feed(ev.ChangeChecked(self.tick(), check.item, check.generation, state, reason,
                                       check.change.ref))

    def finish_in(self, pipeline: str, ref: str, result=None) -> None:
        """End the running build of the item holding `ref` as its first change in `pipeline`."""
        from gateq.core.types import JobResult
        build = next(b for b in self.running.values() if b.pipeline == pipeline and b.change.ref == ref)
        del self.running[build.build]
        self.feed(ev.BuildCompleted(self.tick(), build.build, result or JobResult.SUCCESS))

    # -- what tests look at -------------------------------------------------------

    def results_of(self, change: Change) -> list[dict]:
        return [r for r in self.results if r["change"] == change.ref]


def gate_refs(w: ReviewWorld) -> list[str]:
    return w.queue_refs("gate")


# -- triggers -------------------------------------------------------------------------

def test_a_trigger_matches_its_events_branch_carried_votes_and_comment():
    from gateq.core.triggers import matches
    t = Trigger("review", "comment-added", events=("comment-added", "patchset-created"),
                branch=r"^(main|stable/.*)$", approvals=(W1,), comment=r"(?i)ship it")
    c = gerrit_change("nova", 10)

    def event(kind="comment-added", change=c, votes=(W1, CR2), comment="please ship it", connection="review"):
        return ev.TriggerEvent(1.0, connection, kind, change, votes, comment)

    assert matches(t, event())
    assert matches(t, event("patchset-created"))
    assert not matches(t, event("change-merged"))
    assert not matches(t, event(connection="git"))
    assert not matches(t, event(change=Change("nova", "x", "feature", "r")))
    assert matches(t, event(change=Change("nova", "x", "stable/2026", "r")))
    assert not matches(t, event(votes=(CR2,)))                 # the vote must be carried
    assert not matches(t, event(votes=(("Workflow", 2), CR2)))  # with that very value
    assert not matches(t, event(comment="looks good"))
    assert not matches(t, event(comment=None))
    assert matches(Trigger("git", "approved"), ev.TriggerEvent(1.0, "git", "approved", c))


def test_recheck_reruns_check_and_a_plain_comment_does_not():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.state(10)
    w.comment(a, comment="nice work")
    assert w.queue_refs("check") == [] and w.results == []
    w.comment(a, comment="  recheck ")
    assert w.queue_refs("check") == [a.ref]


# -- requirements on arrival ------------------------------------------------------------

def test_workflow_without_code_review_is_not_enqueued_and_the_reason_is_reported():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.state(10, W1, CR1)
    w.comment(a, W1)
    assert gate_refs(w) == []
    [result] = w.results_of(a)
    assert result["result"] == "not-enqueued" and result["pipeline"] == "gate"
    assert result["reason"] == ("does not meet the requirements of pipeline gate: "
                                "needs Code-Review+2 (has Code-Review+1)")
    assert w.starts == [] and w.merges == []


def test_a_refusal_is_reported_under_an_id_no_item_has():
    w = ReviewWorld()
    a, b = gerrit_change("nova", 10), gerrit_change("nova", 11)
    w.approve_change(a)
    w.state(11, W1)
    w.comment(b, W1)
    ids = [r["item"] for r in w.results]
    assert w.results_of(b)[0]["result"] == "not-enqueued"
    assert w.results_of(b)[0]["item"] not in w.scheduler.state.index
    w.finish(a.ref)
    assert sorted(ids + [w.results_of(a)[0]["item"]]) == sorted({r["item"] for r in w.results})


def test_code_review_then_workflow_is_gated_started_checked_and_landed():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    assert gate_refs(w) == [a.ref]
    assert [(s.pipeline, [c.ref for c in s.changes]) for s in w.starts] == [("gate", [a.ref])]
    w.finish(a.ref)
    assert [c.change.ref for c in w.asked] == [a.ref]     # asked once, before landing
    assert w.landed == [a.ref]
    assert w.results_of(a)[0]["result"] == "merged"


def test_a_change_that_lost_its_vote_before_landing_is_dequeued_and_the_items_behind_are_reset():
    w = ReviewWorld()
    a, b = gerrit_change("nova", 10), gerrit_change("glance", 20)
    w.approve_change(a)
    w.approve_change(b)
    assert w.item(b.ref)["based_on"] == a.name
    w.hold_checks = True
    w.finish(a.ref)
    assert w.landed == [] and [c.change.ref for c in w.checks] == [a.ref]
    generation = w.item(b.ref)["generation"]
    w.state(10, CR1, W1)                   # the reviewer took the +2 back
    w.answer()
    [result] = w.results_of(a)
    assert result["result"] == "dequeued"
    assert result["reason"] == (f"{a.name} no longer meets the requirements: "
                                "needs Code-Review+2 (has Code-Review+1)")
    assert w.item(b.ref)["based_on"] == "main tip" and w.item(b.ref)["generation"] == generation + 1
    w.finish(b.ref)
    w.answer()
    assert w.landed == [b.ref]


def test_a_check_answered_for_an_older_generation_changes_nothing():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    w.hold_checks = True
    w.finish(a.ref)
    [check] = w.checks
    w.feed(ev.ChangeChecked(w.tick(), check.item, check.generation + 5, w.reviews[10], None, a.ref))
    assert w.landed == [] and w.results == []
    w.answer()
    assert w.landed == [a.ref]


def test_a_check_that_cannot_be_made_is_asked_again_then_the_item_leaves_with_the_reason():
    from gateq.core.checks import TRIES
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    w.hold_checks = True
    w.finish(a.ref)
    for _ in range(TRIES):
        assert len(w.checks) == 1 and w.results == []
        w.answer(reason="review.example.org: connection refused")
    assert len(w.asked) == TRIES and w.landed == []
    [result] = w.results_of(a)
    assert result["result"] == "dequeued"
    assert result["reason"] == (f"{a.name} could not be checked before landing: "
                                "review.example.org: connection refused")


def test_an_unreachable_check_then_an_answer_lands():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    w.hold_checks = True
    w.finish(a.ref)
    w.answer(reason="timed out")
    w.answer()
    assert w.landed == [a.ref]


def test_a_pipeline_without_requirements_lands_without_asking():
    lay = review_layout()
    gate = lay.pipelines["gate"]
    from dataclasses import replace
    lay = replace(lay, pipelines={**lay.pipelines, "gate": replace(gate, requirements=(), start=())})
    w = ReviewWorld(lay)
    a = gerrit_change("nova", 10)
    w.state(10, W1)
    w.comment(a, W1)
    w.finish(a.ref)
    assert w.asked == [] and w.starts == [] and w.landed == [a.ref]


# -- patch sets and closed changes ---------------------------------------------------------

def test_a_new_patch_set_supersedes_the_old_item_in_every_pipeline():
    w = ReviewWorld()
    ps1, ps2 = gerrit_change("nova", 10, 1), gerrit_change("nova", 10, 2)
    w.upload(ps1)
    w.approve_change(ps1)
    assert gate_refs(w) == [ps1.ref] and w.queue_refs("check") == [ps1.ref]
    w.state(10)                          # a new patch set: its votes are gone
    w.upload(ps2)
    assert gate_refs(w) == [] and w.queue_refs("check") == [ps2.ref]
    reasons = {(r["pipeline"], r["result"], r["reason"]) for r in w.results_of(ps1)}
    assert reasons == {("gate", "dequeued", "superseded by patch set 2"),
                       ("check", "dequeued", "superseded by patch set 2")}


def test_an_event_for_an_older_patch_set_is_not_enqueued():
    w = ReviewWorld()
    ps1, ps2 = gerrit_change("nova", 10, 1), gerrit_change("nova", 10, 2)
    w.approve_change(ps2)
    w.state(10, CR2, W1, current=False)
    w.comment(ps1, W1)
    assert gate_refs(w) == [ps2.ref]
    assert w.results_of(ps1)[0]["reason"] == "is not the current patch set"


def test_abandon_dequeues_from_every_pipeline_and_what_needs_it():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    b = gerrit_change("glance", 20, needs=[("nova", 10)])
    w.upload(a)
    w.approve_change(a)
    w.approve_change(b, needed=w.needed(a))
    assert gate_refs(w) == [a.ref, b.ref]
    w.abandon(a)
    assert gate_refs(w) == [] and w.queue_refs("check") == []
    assert {(r["pipeline"], r["reason"]) for r in w.results_of(a)} == {
        ("gate", "no longer open (change-abandoned)"), ("check", "no longer open (change-abandoned)")}
    assert w.results_of(b)[0]["reason"] == f"depends on {a.name} which was dequeued"


def test_a_change_merged_while_it_lands_is_gateqs_own_merge():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    w.hold_checks = True
    w.finish(a.ref)
    w.lands.clear()
    w.land = lambda action: None         # the landing is held: World.handle keeps it in lands
    w.answer()
    [land] = w.lands
    w.feed(ev.TriggerEvent(w.tick(), "review", "change-merged", a, (), None,
                           ReviewState(False, False, True, (CR2, W1))))
    assert gate_refs(w) == [a.ref] and w.results == []
    w.feed(ev.LandCompleted(w.tick(), land.item, land.generation, True, land.new))
    assert w.results_of(a)[0]["result"] == "merged"


def test_the_git_driver_is_unchanged_no_review_no_requirements():
    w = ReviewWorld()
    lay = w.scheduler.layout
    from dataclasses import replace
    gate = replace(lay.pipelines["gate"], triggers=(Trigger("git", "approved"),),
                   requirements=(Requirement("review", approvals=(CR2,)),))
    projects = {n: replace(p, connection="git") for n, p in lay.projects.items()}
    w = ReviewWorld(replace(lay, pipelines={**lay.pipelines, "gate": gate}, projects=projects))
    w.approve("a")
    w.finish("a")
    assert w.asked == [] and w.landed == ["a"]


def test_a_change_joining_a_batch_is_reported_started_under_the_batch():
    from dataclasses import replace
    lay = review_layout()
    w = ReviewWorld(replace(lay, pipelines={**lay.pipelines,
                                            "gate": replace(lay.pipelines["gate"], batch_size=2)}))
    w.hold_merges = True
    a, b = gerrit_change("nova", 10), gerrit_change("glance", 20)
    w.approve_change(a)
    w.approve_change(b)
    [item] = w.scheduler.state.pipelines["gate"].queues["integrated"].items
    assert [(s.item, [c.ref for c in s.changes]) for s in w.starts] == [(item.id, [a.ref]), (item.id, [b.ref])]


def test_the_status_shows_the_checks_before_landing():
    w = ReviewWorld()
    a = gerrit_change("nova", 10)
    w.approve_change(a)
    assert w.item(a.ref)["checks"] == []
    w.hold_checks = True
    w.finish(a.ref)
    assert w.item(a.ref)["checks"] == [{"change": a.name, "met": None, "reason": None}]
    w.answer(reason="timed out")
    assert w.item(a.ref)["checks"] == [{"change": a.name, "met": None, "reason": "timed out"}]
