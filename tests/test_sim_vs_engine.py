"""The simulator and the real engine (git, processes) decide alike.

One small scenario runs through both: a slow good head, a bad change (its
tests fail in every state that includes it), a change that conflicts with
the head, and a good change at the back. Same outcomes, same landing order,
and each change tested on the same speculative chains.
"""
import json

from gateq.sim.strategies import STRATEGIES
from gateq.sim.trace import parse_trace
from gateq.sim.world import simulate

from gate_fixture import Gate

# change -> (seconds its job takes, bad?, conflicts with)
SCENARIO = {"a": (2.0, False, None), "b": (0.5, True, None), "c": (0.5, False, "a"), "d": (1.0, False, None)}


def simulated():
    lines = [{"id": ref, "at": 0, "project": "nova", "jobs": {"check": secs}, "bad": bad,
              **({"conflicts": [other]} if other else {})}
             for ref, (secs, bad, other) in SCENARIO.items()]
    result = simulate(parse_trace("\n".join(json.dumps(line) for line in lines), "s.jsonl"),
                      STRATEGIES["gateq"])
    outcomes = [(ref, records[-1]["result"]) for ref, records in result.reports.items()]
    chains = {ref: sorted(" ".join(f"nova:{c}" for c in (*run.ahead, ref))
                          for run in result.runs if run.change.id == ref) for ref in SCENARIO}
    return outcomes, chains


def real(tmp_path):
    g = Gate(tmp_path)
    for ref, (secs, bad, other) in SCENARIO.items():
        files = {"SLEEP": str(secs)}
        if bad:
            files["FAIL"] = "1"
        files["README"] = "a\n" if ref == "a" else ("c\n" if other else "nova\n")
        g.change("nova", ref, files)
        g.approve("nova", ref)
    g.run()
    outcomes = [(r["change"], r["result"]) for r in g.results()]
    chains = {ref: sorted(g.seen_chains(ref)) for ref in SCENARIO}
    return outcomes, chains, g


def test_simulated_and_real_engine_make_the_same_decisions(tmp_path):
    sim_outcomes, sim_chains = simulated()
    real_outcomes, real_chains, g = real(tmp_path)
    assert sorted(real_outcomes) == sorted(sim_outcomes) == [
        ("a", "merged"), ("b", "failed"), ("c", "merge-conflict"), ("d", "merged")]
    assert [c for c, r in real_outcomes if r == "merged"] == [c for c, r in sim_outcomes if r == "merged"]
    assert g.landed() == ["a", "d"]
    assert real_chains == sim_chains
