"""The recheck model: a developer approves an ejected good change again.

Hand-computed case (gateq, unlimited workers, no costs): a flakes (its job
fails by chance with probability 0.5), b depends on a, c is independent.
Each job takes 600 s. The draws are fixed by the seed: with seed 1, a's first
run flakes and its run after the recheck passes; with seed 15 every run of a
flakes.
"""
import json

import pytest

from gateq.sim.compare import Settings, compare
from gateq.sim.costs import FREE
from gateq.sim.recheck import Recheck
from gateq.sim.strategies import STRATEGIES, pick
from gateq.sim.trace import parse_trace
from gateq.sim.world import simulate

LINES = [{"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 600}, "flake": 0.5},
         {"id": "b", "at": 60, "project": "nova", "jobs": {"unit": 600}, "depends": ["a"]},
         {"id": "c", "at": 120, "project": "nova", "jobs": {"unit": 600}}]
TRACE = parse_trace("\n".join(json.dumps(line) for line in LINES), "t.jsonl")
FIVE_MINUTES = Recheck(minutes=5, rounds=3)


def outcomes(seed: int, recheck: Recheck) -> dict:
    run = simulate(TRACE, STRATEGIES["gateq"], None, seed, FREE, recheck)
    return {c: [(r["result"], r["finished_at"]) for r in records] for c, records in run.reports.items()}


def test_a_flaked_change_and_its_dependent_land_after_one_recheck():
    # 0-600 a runs and flakes: a fails at the head at 600, b (on a) is dequeued
    # with it, c (on a+b) is reset onto the tip and runs 600-1200.
    # 900: a is approved again, b right after it (it needs a); both queue behind
    # c, run 900-1500 and land at 1500.
    assert outcomes(1, FIVE_MINUTES) == {
        "a": [("failed", 600), ("merged", 1500)],
        "b": [("dequeued", 600), ("merged", 1500)],
        "c": [("merged", 1200)]}


def test_the_figures_count_time_from_the_first_approval_and_every_change():
    result = compare(TRACE, pick(["gateq"]), Settings(0, FREE, FIVE_MINUTES), seed=1)
    g, b = result["strategies"]["gateq"], result["bound"]
    # time to land: a 1500 s, b 1440 s, c 1080 s -> 25, 24, 18 minutes
    assert (g["land_mean"], g["land_p50"], g["land_p95"]) == (22.33, 24.0, 25.0)
    # bound: a at 600, b at 660, c at 720: 10 minutes after each one's arrival
    assert (b["land_mean"], b["land_p95"]) == (10.0, 10.0)
    assert g["vs_bound"] == {"land_mean": 2.233, "land_p50": 2.4, "land_p95": 2.5}
    assert (g["landed_good_pct"], g["rechecks"], g["wrongly_rejected"]) == (100.0, 2, 0)
    # worker time: a 600 + b 540 (cancelled at 600) + c 480 (reset at 600), wasted;
    # then c 600, a 600, b 600: 3420 s in all, 1620 wasted
    assert (g["wasted_job_minutes"], g["reset_job_minutes"], g["job_minutes_per_landed"]) == (27.0, 8.0, 19.0)
    assert g["wasted_pct"] == round(100 * 1620 / 3420, 2)


def test_without_rechecks_the_lost_changes_show_in_the_fraction_landed():
    result = compare(TRACE, pick(["gateq"]), Settings(0, FREE, Recheck(0, 3)), seed=1)
    g = result["strategies"]["gateq"]
    assert (g["landed_good_pct"], g["land_mean"], g["rechecks"]) == (round(100 / 3, 2), 18.0, 0)
    assert g["wrongly_rejected_by_result"] == {"failed": 1, "dequeued": 1}


def test_rechecks_stop_after_the_cap():
    # seed 15: a flakes every time; approved again at 900, 1800 and 2700 (each
    # run 600 s, failing at 1500, 2400 and 3300), then left alone.
    assert outcomes(15, FIVE_MINUTES)["a"] == [("failed", t) for t in (600, 1500, 2400, 3300)]
    assert outcomes(15, Recheck(5, 1))["a"] == [("failed", 600), ("failed", 1500)]


def test_a_longer_delay_moves_the_landing():
    # approved again at 600 + 20 minutes = 1800: c has landed at 1200, a and b run 1800-2400
    assert outcomes(1, Recheck(20, 3))["a"] == [("failed", 600), ("merged", 2400)]


@pytest.mark.parametrize("result", ["failed", "dequeued"])
def test_bad_changes_and_their_dependents_are_not_rechecked(result):
    lines = [{**LINES[0], "flake": 0, "bad": True}, LINES[1], LINES[2]]
    t = parse_trace("\n".join(json.dumps(line) for line in lines), "t.jsonl")
    run = simulate(t, STRATEGIES["gateq"], None, 1, FREE, FIVE_MINUTES)
    change = "a" if result == "failed" else "b"
    assert [r["result"] for r in run.reports[change]] == [result]
    assert run.rechecks == 0


def test_a_dependent_is_approved_again_with_its_dependency_never_alone():
    # b arrives at 950, behind a's second try. a flakes at 600, 1500 and 2400,
    # and has then used its 2 rounds; b, dequeued with it at 1500 and approved
    # again with it at 1800, still has a round left but waits for a.
    lines = [LINES[0], LINES[2], {**LINES[1], "at": 950}]
    t = parse_trace("\n".join(json.dumps(line) for line in lines), "t.jsonl")
    run = simulate(t, STRATEGIES["gateq"], None, 15, FREE, Recheck(5, 2))
    got = {c: [(r["result"], r["finished_at"]) for r in records] for c, records in run.reports.items()}
    assert got["a"] == [("failed", 600), ("failed", 1500), ("failed", 2400)]
    assert got["b"] == [("dequeued", 1500), ("dequeued", 2400)]
