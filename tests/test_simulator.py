"""`gateq simulate`: the real scheduler under a virtual clock, against hand-computed answers."""
import json
import os
import re
from argparse import ArgumentParser

import pytest

from gateq.core.types import JobResult
from gateq.sim import command
from gateq.sim.bound import bound
from gateq.sim.compare import Settings, compare
from gateq.sim.costs import FREE
from gateq.sim.costs import HELP as COST_HELP
from gateq.sim.generate import HELP, Params, generate, preset
from gateq.sim.recheck import Recheck
from gateq.sim.report import render
from gateq.sim.strategies import STRATEGIES, pick
from gateq.sim.trace import dump_trace, parse_trace
from gateq.sim.world import World, simulate

from scheduler_world import World as ScenarioWorld

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs", "simulator.md")


def trace(*lines: dict, path: str = "t.jsonl"):
    return parse_trace("\n".join(json.dumps(line) for line in lines), path)


def change(cid, at, jobs=None, **extra):
    return {"id": cid, "at": at, "project": "nova", "jobs": jobs or {"unit": 600}, **extra}


HAND = Settings(costs=FREE, recheck=Recheck(0, 0))     # hand-computed cases: no costs, no rechecks


def landed_and_rejected(result):
    final = {c: records[-1] for c, records in result.reports.items()}
    return ({c: r["finished_at"] for c, r in final.items() if r["result"] == "merged"},
            {c: (r["result"], r["finished_at"]) for c, r in final.items() if r["result"] != "merged"})


ABC = (change("a", 0), change("b", 60, bad=True), change("c", 120))


def test_three_changes_middle_one_bad_land_at_hand_computed_times():
    # gateq: a, b (on a) and c (on a+b) all start on arrival. a lands at 600;
    # b fails at 660 and c, reset onto the tip, runs again from 660 to 1260.
    landed, rejected = landed_and_rejected(simulate(trace(*ABC), STRATEGIES["gateq"]))
    assert landed == {"a": 600, "c": 1260}
    assert rejected == {"b": ("failed", 660)}
    # serial: one after the other.
    landed, rejected = landed_and_rejected(simulate(trace(*ABC), STRATEGIES["serial"]))
    assert landed == {"a": 600, "c": 1800}
    assert rejected == {"b": ("failed", 1200)}


def test_figures_and_ratios_on_the_hand_computed_case():
    result = compare(trace(*ABC), pick(["gateq"]), HAND)
    o, g = result["bound"], result["strategies"]["gateq"]
    assert (o["land_mean"], o["job_minutes_per_landed"]) == (10.0, 10.0)    # c could land at 720 on a+c
    assert (g["land_mean"], g["land_p95"]) == (14.5, 19.0)                   # (10 + 19) / 2
    assert g["reject_mean"] == 10.0
    assert g["reset_job_minutes"] == 9.0          # c's first run, 120..660, on a+b
    assert g["job_minutes_per_landed"] == 19.5    # (10 + 10 + 9 + 10) / 2
    assert g["vs_bound"]["land_mean"] == 1.45
    assert (g["landed_good_pct"], g["wasted_pct"]) == (100.0, round(100 * 9 / 39, 2))


def test_a_bad_change_fails_the_items_behind_it_until_they_are_reset():
    t = trace(change("a", 0, bad=True), change("b", 0), change("c", 0))
    result = simulate(t, STRATEGIES["gateq"])
    first = {run.change.id: run.result for run in result.runs[:3]}
    assert first == {"a": JobResult.FAILURE, "b": JobResult.FAILURE, "c": JobResult.FAILURE}
    landed, rejected = landed_and_rejected(result)
    assert landed == {"b": 1200, "c": 1200} and rejected == {"a": ("failed", 600)}


def test_zuul_export_waits_at_the_head_while_gateq_exports_speculatively():
    jobs = {"unit": 600, "export": {"duration": 600, "needs": ["unit"], "export": True}}
    t = trace(change("a", 0, jobs), change("b", 0, jobs))
    assert landed_and_rejected(simulate(t, STRATEGIES["gateq"]))[0] == {"a": 1200, "b": 1200}
    # b's export starts at 600 but holds its worker until a lands at 1200.
    result = simulate(t, STRATEGIES["zuul"])
    assert landed_and_rejected(result)[0] == {"a": 1200, "b": 1800}
    export_b = next(r for r in result.runs if r.change.id == "b" and r.job == "export")
    assert (export_b.started, export_b.clock, export_b.ended) == (600, 1200, 1800)


def test_jobs_installing_the_exports_ahead_wait_for_them_in_gateq_but_not_in_zuul_nor_the_bound():
    jobs = {"unit": {"duration": 600, "requires_export": True},
            "export": {"duration": 600, "needs": ["unit"], "export": True}}
    t = trace(change("a", 0, jobs), change("b", 0, jobs))
    # gateq: b's unit waits for a's export (600..1200), then runs 1200..1800.
    assert landed_and_rejected(simulate(t, STRATEGIES["gateq"]))[0] == {"a": 1200, "b": 2400}
    # zuul does not wait (it cannot see the artifacts ahead), so the bound may not either
    assert bound(t, None, FREE).landed == {"a": 1200, "b": 1200}
    assert landed_and_rejected(simulate(t, STRATEGIES["serial"]))[0] == {"a": 1200, "b": 2400}
    # zuul: b's unit cannot see a's artifacts and does not wait; its export waits for the head.
    assert landed_and_rejected(simulate(t, STRATEGIES["zuul"]))[0] == {"a": 1200, "b": 1800}


def test_waiting_exports_can_lock_the_gate_and_that_is_a_one_line_error():
    # The export is listed first and needs nothing: with one worker it takes the
    # slot and waits for a unit job that can never start (the thread's lock-up).
    jobs = {"export": {"duration": 10, "export": True}, "unit": 10}
    with pytest.raises(ValueError, match=r"t.jsonl: the gate is stuck at 0 s with 1 items queued"):
        simulate(trace(change("a", 0, jobs)), STRATEGIES["zuul"], workers=1)
    assert landed_and_rejected(simulate(trace(change("a", 0, jobs)), STRATEGIES["gateq"], workers=1))[0] == {"a": 20}


def test_conflicts_eject_the_later_change_and_dependencies_follow_their_parent():
    t = trace(change("a", 0), change("b", 0, conflicts=["a"]), change("c", 0, bad=True),
              change("d", 0, depends=["c"]))
    _, rejected = landed_and_rejected(simulate(t, STRATEGIES["gateq"]))
    assert rejected["b"][0] == "merge-conflict"
    assert rejected["c"][0] == "failed" and rejected["d"][0] == "dequeued"


def test_bound_on_a_hand_computed_case():
    t = trace(
        change("x", 0, {"build": 10, "test": {"duration": 5, "needs": ["build"]}}),
        change("y", 0, {"build": 10, "test": {"duration": 5, "needs": ["build"]}}),
        change("bad", 1, {"build": 10, "test": {"duration": 5, "needs": ["build"]}}, bad=True),
        change("child", 2, {"build": 10, "test": {"duration": 5, "needs": ["build"]}}, depends=["bad"]),
        change("clash", 3, {"build": 10, "test": {"duration": 5, "needs": ["build"]}}, conflicts=["x"]))
    one = bound(t, 1, FREE)
    # One worker: x and y cannot be ejected (no flakes), so both run fully before y lands: 30.
    assert one.landed == {"x": 15, "y": 30}
    assert one.rejected == {"bad": 1, "child": 2, "clash": 3}
    assert one.job_seconds == 30
    # Two workers: both builds 0-10, both tests 10-15; y lands with x.
    assert bound(t, 2, FREE).landed == {"x": 15, "y": 15}
    assert bound(t, None, FREE).landed == {"x": 15, "y": 15}


def test_same_seed_gives_the_same_numbers():
    t = generate(preset("review-hooks", {"hours": "3", "flake_rate": "0.05"}), seed=7)
    first = compare(t, pick(None), seed=3)
    assert compare(t, pick(None), seed=3) == first
    assert first["strategies"]["gateq"]["flaky_builds"] > 0


def test_every_strategy_meets_the_same_luck():
    # c flakes on every run of its state: every strategy rejects it, even after
    # its rechecks; the bound lands it.
    t = trace(change("a", 0), change("c", 0, {"unit": {"duration": 600, "flake": 1.0}}))
    result = compare(t, pick(None))
    assert result["bound"]["landed"] == 2
    assert {s["wrongly_rejected"] for s in result["strategies"].values()} == {1}


@pytest.mark.parametrize("durations, steps, expected", [
    # b fails first, then a ends (a lands, b is reported), then c (restarted on a) lands.
    ({"a": 10, "b": 5, "c": 20}, [("fail", "b"), ("finish", "a"), ("finish", "c")],
     [("a", "merged"), ("b", "failed"), ("c", "merged")]),
    # the head fails first: b and c restart on the tip.
    ({"a": 5, "b": 10, "c": 10}, [("fail", "a"), ("finish", "b"), ("finish", "c")],
     [("a", "failed"), ("b", "merged"), ("c", "merged")]),
])
def test_simulator_and_scenario_world_make_the_same_decisions(durations, steps, expected):
    bad = steps[0][1]
    t = trace(*(change(c, 0, {"unit": d}, bad=(c == bad)) for c, d in durations.items()))
    sim = simulate(t, STRATEGIES["gateq"])
    w = ScenarioWorld()
    for ref in durations:
        w.approve(ref)
    for verb, ref in steps:
        getattr(w, verb)(ref)
    world_order = [(r["change"], r["result"]) for r in w.results]
    sim_order = [(c, r[-1]["result"]) for c, r in sim.reports.items()]
    assert sim_order == world_order == expected
    # The scenario world answers merges recursively, so builds started at one
    # instant may come in another order: compare which builds ran, on what.
    world_chains = sorted(tuple(c.split(":")[1] for c in s.chain) for s in w.started)
    assert sorted((*run.ahead, run.change.id) for run in sim.runs) == world_chains


def test_generate_then_simulate_round_trip(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    args = parse(["--generate", "distgit", "--param", "hours=4", "--seed", "2", "-o", str(out)])
    assert command.run(args) == 0
    t = parse_trace(out.read_text(), str(out))
    assert parse_trace(dump_trace(t), str(out)) == t
    assert t.meta["generator"]["hours"] == 4.0 and t.meta["workers"] >= 1
    capsys.readouterr()
    assert command.run(parse(["--trace", str(out), "--json"])) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["workers"] == t.meta["workers"]
    for figures in result["strategies"].values():
        assert figures["landed"] + figures["rejected"] == len(t.changes)


def abc_file(tmp_path):
    path = tmp_path / "abc.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in ABC))
    return str(path)


def test_text_table_shows_each_figure_and_its_ratio_to_the_bound():
    text = render(compare(trace(*ABC), pick(["gateq"]), HAND))
    assert re.search(r"time to land, mean \(min\)\s+10\.0\s+14\.5\n  over the bound\s+1\.45\n", text)
    assert re.search(r"good changes not landed\s+-\s+0", text)


FREE_COSTS = [arg for name in COST_HELP for arg in ("--cost", f"{name}=0")]


def test_the_command_prints_the_table_and_seeds_give_intervals(tmp_path, capsys):
    assert command.run(parse(["--trace", abc_file(tmp_path), "--strategy", "gateq", *FREE_COSTS])) == 0
    assert re.search(r"over the bound\s+1\.45\n", capsys.readouterr().out)
    # the same trace under 3 flake seeds: nothing flakes, so every interval is 0 wide
    assert command.run(parse(["--trace", abc_file(tmp_path), "--strategy", "gateq", "--seeds", "0-2",
                              *FREE_COSTS])) == 0
    text = capsys.readouterr().out
    assert "seeds 0-2 (3): mean ± 95% interval" in text
    assert re.search(r"time to land, mean \(min\)\s+10\.0 ± 0\.0\s+14\.5 ± 0\.0\n", text)


def test_plot_draws_time_to_land_against_failure_rate(tmp_path, capsys):
    svg = tmp_path / "out.svg"
    assert command.run(parse(["--trace", abc_file(tmp_path), "--strategy", "gateq", "--plot", str(svg),
                              "--plot-against", "failure"])) == 0
    assert svg.read_text().lstrip().startswith("<?xml")
    assert "wrote" in capsys.readouterr().err


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}}', '{"id": "b"'], "t.jsonl:2: not JSON"),
    (['{"id": "a", "at": 0, "project": "nova"}'], "t.jsonl:1: missing 'jobs'"),
    (['{"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}, "colour": 1}'], "t.jsonl:1: unknown key"),
    (['{"id": "a", "at": 5, "project": "nova", "jobs": {"unit": 1}, "depends": ["b"]}',
      '{"id": "b", "at": 9, "project": "nova", "jobs": {"unit": 1}}'], "t.jsonl:1: depends on 'b'"),
    (['{"id": "a", "at": 0, "project": "nova", "jobs": {"t": {"duration": 1, "needs": ["u"]}}}'],
     "t.jsonl:1: job 't' needs 'u'"),
    (['{"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}, "bad": ["lint"]}'], "t.jsonl:1: 'bad'"),
])
def test_trace_errors_name_the_line(lines, message):
    with pytest.raises(ValueError) as exc:
        parse_trace("\n".join(lines), "t.jsonl")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_user_errors_are_one_line_value_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown strategy 'fifo'"):
        command.run(parse(["--trace", str(tmp_path / "x"), "--strategy", "fifo"]))
    with pytest.raises(ValueError, match="cannot read"):
        command.run(parse(["--trace", str(tmp_path / "missing.jsonl")]))
    with pytest.raises(ValueError, match="unknown generator parameter 'speed'"):
        command.run(parse(["--generate", "distgit", "--param", "speed=3"]))
    assert command.main(["simulate", "--trace", str(tmp_path / "missing.jsonl")]) == 2
    for argv, message in ((["--seeds", "5-2"], "--seeds '5-2' is not FIRST-LAST"),
                          (["--cost", "merge=-1"], "cost 'merge': '-1' is negative"),
                          (["--cost", "speed=1"], "unknown cost 'speed'"),
                          (["--param", "hours=2"], "--param sets a generator parameter"),
                          (["--recheck-rounds", "-1"], "must be 0 or more")):
        with pytest.raises(ValueError, match=re.escape(message)):
            command.run(parse(["--trace", str(tmp_path / "x"), *argv]))


def test_every_generator_parameter_cost_option_and_strategy_is_documented():
    docs = open(DOCS).read()
    assert set(HELP) == set(Params.__dataclass_fields__)
    for name in HELP:
        assert f"`{name}`" in docs, f"generator parameter {name} is not in docs/simulator.md"
    for name in STRATEGIES:
        assert f"`{name}`" in docs
    for name in COST_HELP:
        assert f"`{name}`" in docs, f"cost {name} is not in docs/simulator.md"
    for option in ("--seeds", "--preset", "--cost", "--recheck-minutes", "--recheck-rounds"):
        assert f"`{option}" in docs


def test_a_day_of_the_busiest_preset_simulates_quickly():
    import time
    t = generate(preset("review-hooks"), seed=1)
    started = time.perf_counter()
    simulate(t, STRATEGIES["gateq"], t.meta["workers"], seed=1)
    assert time.perf_counter() - started < 5


# -- scheduler findings made with the simulator ----------------------------------

def test_dependent_survives_when_its_parent_failed_only_because_of_a_bad_change_ahead():
    w = ScenarioWorld()
    w.approve("a")
    w.approve("b")
    w.approve("c", commits=("rev-b",))
    w.fail("b")            # b's state holds a, which is bad
    w.fail("a")            # a fails at the head: b is re-tested without it
    w.finish("b")
    w.finish("c")
    assert w.landed == ["b", "c"]


def test_the_head_of_another_queue_waiting_longer_gets_the_next_slot():
    from dataclasses import replace
    from gateq.core import events as ev
    from gateq.core.types import Change
    from scheduler_world import layout
    base = layout()
    projects = {**base.projects, "ceilometer": replace(base.projects["ceilometer"], queue="other")}
    w = ScenarioWorld(replace(base, projects=projects, queues=frozenset({"shared", "other"})), slots=2)
    w.approve("a")
    w.approve("b")                      # a and b take both slots
    w.feed(ev.TriggerEvent(w.tick(), "git", "approved",
                           Change("ceilometer", "x", "main", "rev-x", frozenset({"rev-x"}))))
    w.approve("c")                      # c arrives after x
    w.finish("a")                       # one slot frees
    assert "x" in w.running_chains()


def parse(argv):
    parser = ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    command.register(sub)
    return parser.parse_args(["simulate", *argv])


def test_world_replays_exactly():
    t = trace(*ABC)
    a, b = World(t, STRATEGIES["zuul"], 2, 5), World(t, STRATEGIES["zuul"], 2, 5)
    assert [(r.id, r.started, r.ended) for r in a.run().runs] == [(r.id, r.started, r.ended) for r in b.run().runs]
