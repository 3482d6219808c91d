"""The bound is a lower bound: on random traces no strategy lands a good change
before it, nor beats it on any figure compared with it.

hypothesis is not installed: each case is drawn from its own seeded
random.Random, so a failure names the case number that reproduces it.
"""
import json
import random
from dataclasses import replace

import pytest

from gateq.sim.bound import bound, fates
from gateq.sim.compare import Settings, bound_kind, compare
from gateq.sim.costs import FREE, Costs
from gateq.sim.recheck import Recheck
from gateq.sim.strategies import STRATEGIES, pick
from gateq.sim.trace import parse_trace
from gateq.sim.world import simulate

CASES = 480


def random_jobs(rng: random.Random) -> dict:
    """A project's jobs: a few, some needing others, perhaps an export last."""
    jobs: dict = {}
    for i in range(rng.randint(1, 3)):
        spec: dict = {"duration": rng.choice([0, 1, 5, 30, 60, 200, 600])}
        earlier = list(jobs)
        if earlier and rng.random() < 0.5:
            spec["needs"] = rng.sample(earlier, rng.randint(1, len(earlier)))
        if rng.random() < 0.2:
            spec["requires_export"] = True
        if rng.random() < 0.3:
            spec["flake"] = rng.choice([0.0, 0.2, 0.5])
        if rng.random() < 0.3:
            spec["per_project"] = True
        jobs[f"j{i}"] = spec
    if rng.random() < 0.6:
        jobs["export"] = {"duration": rng.choice([1, 60, 300]), "needs": list(jobs), "export": True}
    return jobs


def random_trace(case: int):
    rng = random.Random(case)
    projects = [f"p{i}" for i in range(rng.randint(1, 4))]
    queues = {p: f"q{rng.randrange(rng.randint(1, 3))}" for p in projects}
    shapes = {}
    for p in projects:
        jobs = random_jobs(rng)
        # a job name means the same job everywhere: name them per project
        shapes[p] = {f"{p}-{n}": {**spec, **({"needs": [f"{p}-{m}" for m in spec["needs"]]}
                                              if "needs" in spec else {})} for n, spec in jobs.items()}
    lines, at = [], 0.0
    for i in range(rng.randint(2, 16)):
        at += rng.choice([0, 0, 10, 60, 300, 900])
        project = rng.choice(projects)
        branch = rng.choice(["main", "main", "stable"])
        cid = f"c{i}"
        same = [c for c in lines if (c["project"], c.get("branch", "main")) == (project, branch)]
        line = {"id": cid, "at": at, "project": project, "queue": queues[project], "jobs": shapes[project]}
        if branch != "main":
            line["branch"] = branch
        if same and rng.random() < 0.5:
            line["depends"] = [rng.choice(same)["id"]]
        built_on = ancestry(line, {c["id"]: c for c in lines})
        partners = [c["id"] for c in same if c["id"] not in built_on]
        if partners and rng.random() < 0.25:
            line["conflicts"] = [rng.choice(partners)]
        if rng.random() < 0.2:
            line["bad"] = True
        line["flake"] = rng.choice([0.0, 0.0, 0.3, 0.6])
        lines.append(line)
    trace = parse_trace("\n".join(json.dumps(x) for x in lines), f"case-{case}")
    workers = rng.choice([None, 1, 2, 3, 5])
    costs = FREE if rng.random() < 0.5 else Costs(*(rng.choice([0.0, 1.0, 7.0]) for _ in range(5)))
    recheck = Recheck(rng.choice([0, 1, 5]), rng.randint(0, 3))
    return trace, workers, costs, recheck


def ancestry(line: dict, by_id: dict) -> set:
    found, todo = set(), list(line.get("depends", []))
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(by_id[name].get("depends", []))
    return found


@pytest.mark.parametrize("block", range(8))
def test_no_strategy_lands_a_good_change_before_its_bound(block):
    for case in range(block * CASES // 8, (block + 1) * CASES // 8):
        trace, workers, costs, recheck = random_trace(case)
        arrival = {c.id: c.at for c in trace.changes}
        for strategy in STRATEGIES.values():
            b = bound(trace, workers, costs, *bound_kind(strategy))
            run = simulate(trace, strategy, workers, case, costs, recheck)
            for change, records in run.reports.items():
                landed = [r["finished_at"] for r in records if r["result"] == "merged"]
                if landed and change in b.landed:
                    assert landed[0] >= b.landed[change] - 1e-6, (
                        f"case {case}, {strategy.name}: {change} landed at {landed[0]}, "
                        f"{landed[0] - arrival[change]} s after arriving, before its bound {b.landed[change]}")


@pytest.mark.parametrize("block", range(4))
def test_every_ratio_over_the_bound_is_at_least_one(block):
    for case in range(1000 + block * 30, 1000 + (block + 1) * 30):
        trace, workers, costs, recheck = random_trace(case)
        result = compare(trace, pick(list(STRATEGIES)), Settings(workers or 0, costs, recheck), seed=case)
        for name, figures in result["strategies"].items():
            for key, ratio in figures["vs_bound"].items():
                assert ratio is None or ratio >= 1 - 1e-9, f"case {case}, {name}: {key} {ratio}"


def test_the_random_traces_exercise_the_queue_and_work_terms():
    """Guard against a generator too gentle to test anything: in some cases
    a good change's bound comes from the changes ahead or from the workers,
    not from its own jobs."""
    by_queue = by_work = 0
    for case in range(CASES):
        trace, workers, costs, recheck = random_trace(case)
        limited, unlimited = bound(trace, workers, costs), bound(trace, None, costs)
        for c in fates(trace)[0]:
            alone = bound(replace(trace, changes=(replace(c, depends=(), conflicts=()),)), None, costs)
            by_queue += unlimited.landed[c.id] > alone.landed[c.id] + 1e-9
            by_work += limited.landed[c.id] > unlimited.landed[c.id] + 1e-9
    assert by_queue >= 50 and by_work >= 50, (by_queue, by_work)


# -- each term, on a hand-computed case ---------------------------------------

def one(cid, at, seconds, **extra):
    return {"id": cid, "at": at, "project": "nova", "jobs": {"unit": seconds}, **extra}


def test_with_one_worker_changes_wait_for_the_work_ahead_that_cannot_be_skipped():
    t = trace(one("a", 0, 600), one("b", 0, 600), one("c", 0, 600))
    assert bound(t, 1, FREE).landed == {"a": 600, "b": 1200, "c": 1800}
    assert bound(t, None, FREE).landed == {"a": 600, "b": 600, "c": 600}
    # a may flake: it might leave after its one job, so it still counts; but if
    # it could leave at once (a conflict), nothing of it need run before c.
    t = trace(one("a", 0, 600, flake=0.1), one("b", 0, 600), one("c", 0, 600))
    assert bound(t, 1, FREE).landed == {"a": 600, "b": 1200, "c": 1800}


def test_a_change_ahead_that_may_be_dequeued_with_its_flaky_parent_does_not_hold_the_bound():
    # d flakes every time: it is ejected at 100 and c (which needs it) with it;
    # e, behind them, is then re-tested alone and lands at 110.
    t = trace(one("d", 0, 100, flake=1.0), one("c", 0, 1000, depends=["d"]), one("e", 0, 10))
    b = bound(t, None, FREE)
    assert b.landed["e"] == 100            # no sooner than d or c could leave
    landed = {c: r[-1]["finished_at"] for c, r in simulate(t, STRATEGIES["gateq"]).reports.items()
              if r[-1]["result"] == "merged"}
    assert landed == {"e": 110}


def test_a_change_ahead_that_may_leave_as_a_merge_conflict_does_not_hold_the_bound():
    # b conflicts with a (ahead of it, landing at 100): b leaves, e lands at 100.
    t = trace(one("a", 0, 100), one("b", 0, 1000, conflicts=["a"]), one("e", 0, 10))
    b = bound(t, None, FREE)
    assert b.landed == {"a": 100, "e": 100}
    landed = {c: r[-1]["finished_at"] for c, r in simulate(t, STRATEGIES["gateq"]).reports.items()
              if r[-1]["result"] == "merged"}
    assert landed["e"] >= b.landed["e"] and landed["a"] == 100


def test_costs_add_a_merge_workspaces_and_the_publishing_to_a_change_alone():
    jobs = {"build": 100, "export": {"duration": 50, "needs": ["build"], "export": True}}
    t = trace({"id": "a", "at": 10, "project": "nova", "jobs": jobs})
    costs = Costs(merge=1, merge_tip_per_project=0, workspace_per_project=2, view=5, publish=3)
    # 10 + merge 1 + (2 + 100) + (2 + 50) + publish 3; views are not counted (zuul has none)
    assert bound(t, None, costs).landed == {"a": 168}
    assert bound(t, None, costs, export_in_gate=False).landed == {"a": 113}


def trace(*lines):
    return parse_trace("\n".join(json.dumps(x) for x in lines), "t.jsonl")


def test_a_batch_shares_its_builds_so_the_work_term_counts_each_change_for_its_share():
    t = trace(one("a", 0, 600), one("b", 0, 600), one("c", 0, 600))
    assert bound(t, 1, FREE, batch=3).landed == {"a": 600, "b": 600, "c": 600}
    assert bound(t, 1, FREE, batch=2).landed == {"a": 600, "b": 600, "c": 900}
    landed = {c: r[-1]["finished_at"] for c, r in simulate(t, STRATEGIES["gateq-batch"], 1).reports.items()}
    assert landed == {"a": 600, "b": 600, "c": 600}      # [a b c]: one build on the one worker
    # a series batch holds only the changes of one series: none here, so no sharing
    assert bound(t, 1, FREE, batch=3, series=True).landed == bound(t, 1, FREE).landed
    s = trace(one("a", 0, 600), one("b", 0, 600, depends=["a"]), one("c", 0, 600))
    assert bound(s, 1, FREE, batch=3, series=True).landed == {"a": 600, "b": 600, "c": 1200}
