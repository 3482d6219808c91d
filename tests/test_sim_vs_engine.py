"""The simulator and the real engine (git, processes) decide alike.

Each scenario runs through both: the same changes (good, bad: their tests
fail in every state that includes them, conflicting, built on another),
the same strategy settings. Same outcomes, same landing order, and each
build run on the same speculative chain (a build is named after the last
change of its item, as the job sees it in GATEQ_CHANGES).
"""
import json
import os
from dataclasses import dataclass, field

import pytest

from gateq.config.model import BatchKind
from gateq.sim.luck import draw
from gateq.sim.repos import change_hash
from gateq.sim.strategies import STRATEGIES, ExportAt, Strategy
from gateq.sim.trace import parse_trace
from gateq.sim.world import simulate

from gate_fixture import Gate
from test_gate_strategies import FLAKY_JOB, gate_with


@dataclass(frozen=True)
class Change:
    ref: str
    seconds: float = 0.5
    bad: bool = False
    conflicts: str | None = None      # an earlier change it conflicts with (both edit README)
    needs: str | None = None          # an earlier change it is built on


@dataclass(frozen=True)
class Scenario:
    changes: tuple[Change, ...]
    strategy: Strategy
    workers: int | None = None        # None: the engine's 4 slots, unlimited in the simulator
    landed: tuple[str, ...] = ()
    outcomes: dict = field(default_factory=dict)


def simulated(s: Scenario, seed: int = 0, flake: float = 0.0):
    lines = [{"id": c.ref, "at": 0, "project": "nova", "jobs": {"check": c.seconds}, "bad": c.bad,
              "flake": flake, **({"conflicts": [c.conflicts]} if c.conflicts else {}),
              **({"depends": [c.needs]} if c.needs else {})} for c in s.changes]
    result = simulate(parse_trace("\n".join(json.dumps(line) for line in lines), "s.jsonl"),
                      s.strategy, s.workers, seed)
    outcomes = {ref: records[-1]["result"] for ref, records in result.reports.items()}
    landed = [c for c, _ in sorted(result.reports.items(), key=lambda kv: kv[1][-1]["finished_at"])
              if outcomes[c] == "merged"]
    chains = {c.ref: sorted(" ".join(f"nova:{x}" for x in (*run.ahead, *run.changes))
                            for run in result.runs if run.changes[-1] == c.ref) for c in s.changes}
    return outcomes, landed, chains


def pipeline_settings(strategy: Strategy) -> str:
    """The strategy's pipeline settings as the layout writes them."""
    def value(v):
        return v.value if isinstance(v, BatchKind) else str(v).lower() if isinstance(v, bool) else v
    return "\n".join(f"{k.replace('_', '-')}: {value(v)}" for k, v in strategy.pipeline.items())


def real(tmp_path, s: Scenario, job: str = "check", jobs: str = ""):
    g = gate_with(tmp_path, pipeline_settings(s.strategy), slots=s.workers or 4,
                  project_jobs=(job,), jobs=jobs)
    readme = {c.ref for c in s.changes if c.conflicts} | {c.conflicts for c in s.changes if c.conflicts}
    for c in s.changes:
        files = {"SLEEP": str(c.seconds), f"{c.ref}.txt": c.ref + "\n"}
        if c.bad:
            files["FAIL"] = "1"
        if c.ref in readme:
            files["README"] = f"{c.ref}\n"
        g.change("nova", c.ref, files, base=f"origin/{c.needs}" if c.needs else "origin/main")
    for c in s.changes:
        g.approve("nova", c.ref)
    g.run()
    outcomes = {r["change"]: r["result"] for r in g.results()}
    chains = {c.ref: sorted(g.seen_chains(c.ref)) for c in s.changes}
    return outcomes, g.landed(), chains, g


SCENARIOS = {
    # a slow good head, a bad change, a change that conflicts with the head, a good one at the back
    "gateq": Scenario((Change("a", 2.0), Change("b", bad=True), Change("c", conflicts="a"), Change("d", 1.0)),
                      STRATEGIES["gateq"], landed=("a", "d"),
                      outcomes={"a": "merged", "b": "failed", "c": "merge-conflict", "d": "merged"}),
    # two fixes of one bug, the first one bad: the second lands once the first has left
    "conflict": Scenario((Change("a", 1.0, bad=True), Change("b", conflicts="a")),
                         STRATEGIES["gateq"], landed=("b",), outcomes={"a": "failed", "b": "merged"}),
    # one slot: the four wait for it and are tested as one batch, split until b is alone
    "batch": Scenario((Change("a"), Change("b", bad=True), Change("c"), Change("d")),
                      STRATEGIES["gateq-batch"], workers=1, landed=("a", "c", "d"),
                      outcomes={"a": "merged", "b": "failed", "c": "merged", "d": "merged"}),
    # b fails before a's result is known: a's own result (it passes) decides that b is to blame
    # (nothing behind b: its reset would meet a's landing, whose answer the engine may give later)
    "excuse": Scenario((Change("a", 1.5), Change("b", 0.2, bad=True)),
                       Strategy("gateq-excuse", "", ExportAt.GATE, {"excuse_base_failures": True}),
                       landed=("a",), outcomes={"a": "merged", "b": "failed"}),
    # a patch series a <- b <- c with c bad, and x on its own: [a b c] is one item, x another
    "series": Scenario((Change("a"), Change("b", needs="a"), Change("c", bad=True, needs="b"), Change("x")),
                       STRATEGIES["gateq-series"], workers=1, landed=("a", "b", "x"),
                       outcomes={"a": "merged", "b": "merged", "c": "failed", "x": "merged"}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_simulated_and_real_engine_make_the_same_decisions(tmp_path, name):
    s = SCENARIOS[name]
    sim_outcomes, sim_landed, sim_chains = simulated(s)
    real_outcomes, real_landed, real_chains, _ = real(tmp_path, s)
    assert real_outcomes == sim_outcomes == s.outcomes
    assert real_landed == sim_landed == list(s.landed)
    assert real_chains == sim_chains


def test_the_batch_scenario_is_tested_as_one_item_then_split(tmp_path):
    """What the batch scenario's chains are, so a simulator and an engine that
    both stopped batching could not pass the test above unnoticed."""
    _, _, chains = simulated(SCENARIOS["batch"])
    assert chains["d"] == ["nova:a nova:b nova:c nova:d", "nova:c nova:d"]


def flaky_once_seed() -> int:
    """A seed whose first draw for `a` alone on the tip flakes and whose
    second does not (the content of a state is the sum of its changes' hashes
    and its branch's, see gateq/sim/repos.py)."""
    content = (change_hash("nova/main") + change_hash("a")) & (2 ** 64 - 1)
    return next(seed for seed in range(1000)
                if draw(seed, content, "flaky", 0) < 0.5 <= draw(seed, content, "flaky", 1))


def test_a_job_retried_after_a_flake_decides_alike(tmp_path):
    strategy = Strategy("gateq-attempts", "", ExportAt.GATE, {}, {"attempts": 2})
    seed = flaky_once_seed()
    lines = [{"id": "a", "at": 0, "project": "nova", "jobs": {"flaky": {"duration": 1, "flake": 0.5}}}]
    result = simulate(parse_trace(json.dumps(lines[0]), "s.jsonl"), strategy, None, seed)
    sim = result.reports["a"][-1]
    marks = tmp_path / "marks"
    marks.mkdir()
    g = Gate(tmp_path, project_jobs=("flaky",),
             jobs=f"- job: {{name: flaky, run: jobs/flaky.sh, attempts: 2, vars: {{MARKS: {marks}}}}}\n")
    g.write_job("flaky.sh", FLAKY_JOB)
    g.change("nova", "a")
    g.approve("nova", "a")
    g.run()
    engine = g.results()[0]
    assert sim["result"] == engine["result"] == "merged"
    assert [(j["attempts"], j["build"], j["retried"]) for j in sim["jobs"]] == \
        [(j["attempts"], j["build"], j["retried"]) for j in engine["jobs"]] == [(2, "1-0-flaky~2", ["1-0-flaky"])]
    assert [r.state for r in result.runs][0] == [r.state for r in result.runs][1]   # the same state, twice
    assert os.path.exists(os.path.join(g.config, "state", "logs", "1-0-flaky.log"))
