"""zuul-post: Zuul's gate without the export, which a post pipeline runs after
landing, on the commit each change landed as. It lands sooner, and its
repository disagrees with git; gateq's never does.

Hand-computed case (no costs, unlimited workers): a and b arrive at 0, c at
1000, one project; each runs `unit` (600 s), then its export (a 300 s, b 100
s, c 300 s).
"""
import json

from gateq.sim.compare import Settings, compare
from gateq.sim.costs import FREE, Costs
from gateq.sim.recheck import Recheck
from gateq.sim.strategies import STRATEGIES, pick
from gateq.sim.trace import parse_trace
from gateq.sim.world import simulate


def jobs(export: float) -> dict:
    return {"unit": 600, "export": {"duration": export, "needs": ["unit"], "export": True}}


LINES = [{"id": "a", "at": 0, "project": "nova", "jobs": jobs(300)},
         {"id": "b", "at": 0, "project": "nova", "jobs": jobs(100)},
         {"id": "c", "at": 1000, "project": "nova", "jobs": jobs(300)}]
TRACE = parse_trace("\n".join(json.dumps(line) for line in LINES), "t.jsonl")


def landed(run) -> dict:
    return {c: r[-1]["finished_at"] for c, r in run.reports.items() if r[-1]["result"] == "merged"}


def test_zuul_post_lands_before_its_exports_and_publishes_one_snapshot_git_never_had():
    run = simulate(TRACE, STRATEGIES["zuul-post"])
    # a and b land at 600 with only `unit` in the gate; c at 1600
    assert landed(run) == {"a": 600, "b": 600, "c": 1600}
    # post exports, each on the commit its change landed as: b's (600-700, on
    # a+b) agrees with git; a's (600-900, on a alone) is published after b's:
    # git holds a+b, the repository goes back to a. c's (1600-1900) agrees.
    assert [(p.change, p.at, p.agrees) for p in run.publications] == [
        ("b", 700, True), ("a", 900, False), ("c", 1900, True)]


def test_gateq_and_zuul_publish_only_what_git_holds():
    gateq = simulate(TRACE, STRATEGIES["gateq"])
    assert landed(gateq) == {"a": 900, "b": 900, "c": 1900}
    assert [(p.change, p.at, p.agrees) for p in gateq.publications] == [
        ("a", 900, True), ("b", 900, True), ("c", 1900, True)]
    # zuul: b's export waits until a has landed at 900, then runs 900-1000
    zuul = simulate(TRACE, STRATEGIES["zuul"])
    assert landed(zuul) == {"a": 900, "b": 1000, "c": 1900}
    assert all(p.agrees for p in zuul.publications) and len(zuul.publications) == 3


def test_figures_count_the_disagreeing_snapshots_and_compare_zuul_post_with_its_own_bound():
    result = compare(TRACE, pick(["zuul-post", "gateq"]), Settings(0, FREE, Recheck(0, 0)))
    post, gateq = result["strategies"]["zuul-post"], result["strategies"]["gateq"]
    assert (post["snapshots"], post["snapshots_disagreeing"]) == (3, 1)
    assert (gateq["snapshots"], gateq["snapshots_disagreeing"]) == (3, 0)
    # bound with the export in the gate: a 900, b 900 (behind a), c 1900: 15 min each;
    # without it (bound-post): 600, 600, 1600: 10 min each
    assert (result["bound"]["land_mean"], result["bound_post"]["land_mean"]) == (15.0, 10.0)
    assert (post["land_mean"], post["vs_bound"]["land_mean"]) == (10.0, 1.0)
    assert (gateq["land_mean"], gateq["vs_bound"]["land_mean"]) == (15.0, 1.0)


def test_the_post_export_holds_a_worker_for_its_publishing_and_the_landing_of_gateq_waits_for_it():
    costs = Costs(merge=0, merge_tip_per_project=0, workspace_per_project=0, view=0, publish=50)
    post = simulate(TRACE, STRATEGIES["zuul-post"], costs=costs)
    assert [(p.change, p.at) for p in post.publications] == [("b", 750), ("a", 950), ("c", 1950)]
    gateq = simulate(TRACE, STRATEGIES["gateq"], costs=costs)
    # a's publishing ends at 950, b's (one engine, one at a time) at 1000
    assert landed(gateq) == {"a": 950, "b": 1000, "c": 1950}


def test_post_exports_get_a_worker_only_when_no_gate_build_waits():
    # one worker: a's unit 0-600 (lands at 600), then b's unit 600-1200 and
    # c's 1200-1800 go before a's post export, asked for at 600.
    run = simulate(TRACE, STRATEGIES["zuul-post"], workers=1)
    starts = [(r.change.id, r.job, r.started) for r in run.runs]
    assert starts[:4] == [("a", "unit", 0), ("b", "unit", 600), ("c", "unit", 1200), ("a", "export", 1800)]


def test_a_zuul_export_waiting_at_the_head_fails_when_another_job_of_its_item_fails():
    # the export needs nothing, so it starts at 0 and waits for `unit`; a is
    # bad: unit fails at 600, and the waiting export fails with it instead of
    # holding its worker (with fail_fast false the item leaves when both ended).
    lines = [{"id": "a", "at": 0, "project": "nova", "bad": ["unit"],
              "jobs": {"unit": 600, "export": {"duration": 300, "export": True}}}]
    run = simulate(parse_trace(json.dumps(lines[0]), "t.jsonl"), STRATEGIES["zuul"], workers=2)
    assert [(r["result"], r["finished_at"]) for r in run.reports["a"]] == [("failed", 600)]
    export = next(r for r in run.runs if r.job == "export")
    assert (export.started, export.ended) == (0, 600)
