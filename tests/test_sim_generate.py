"""The trace generator and trace validation: parameters typed by their field,
and textual conflicts only where git can produce them."""
import json

import pytest

from gateq.sim import command
from gateq.sim.generate import generate, preset
from gateq.sim.trace import parse_trace

from test_simulator import parse


def test_a_float_parameter_takes_a_fraction_whatever_the_presets_value(tmp_path, capsys):
    # distgit's preset says changes_per_hour=4 (an int): the field is a float
    assert preset("distgit", {"changes_per_hour": "4.5"}).changes_per_hour == 4.5
    out = tmp_path / "t.jsonl"
    assert command.run(parse(["--generate", "distgit", "--param", "changes_per_hour=4.5",
                              "--param", "hours=2", "-o", str(out)])) == 0
    assert parse_trace(out.read_text()).meta["generator"]["changes_per_hour"] == 4.5


@pytest.mark.parametrize("param, message", [
    ("projects=4.5", "generator parameter 'projects': '4.5' is not a whole number"),
    ("failure_rate=lots", "generator parameter 'failure_rate': 'lots' is not a number"),
    ("burst_chain=maybe", "generator parameter 'burst_chain': 'maybe' is not true or false"),
])
def test_a_parameter_of_the_wrong_type_is_one_line(param, message):
    name, _, value = param.partition("=")
    with pytest.raises(ValueError) as exc:
        preset("distgit", {name: value})
    assert str(exc.value) == message


def test_booleans_read_as_written():
    assert preset("distgit", {"burst_chain": "false"}).burst_chain is False
    assert preset("review-hooks", {"burst_chain": "yes"}).burst_chain is True


@pytest.mark.parametrize("name", ["distgit", "review-hooks"])
def test_generated_conflicts_are_within_a_project_and_branch_never_with_an_ancestor(name):
    # many conflicts, patch series, several queues: every trace must pass validation
    found = 0
    for seed in range(12):
        params = preset(name, {"conflict_rate": "0.6", "hours": "6", "burst_probability": "0.5", "projects": "6",
                               "burst_chain": "true", "queues": "3"})
        trace = generate(params, seed, name)
        by_id = trace.by_id()
        for c in trace.changes:
            for other in c.conflicts:
                assert (by_id[other].project, by_id[other].branch) == (c.project, c.branch)
                found += 1
    assert found > 40


def lines(*records):
    return "\n".join(json.dumps(r) for r in records)


@pytest.mark.parametrize("records, message", [
    (({"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}},
      {"id": "b", "at": 1, "project": "glance", "queue": "nova", "jobs": {"unit": 1}, "conflicts": ["a"]}),
     "t.jsonl:2: conflicts with 'a' of nova/main: a textual conflict needs the same project and branch"),
    (({"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}},
      {"id": "b", "at": 1, "project": "nova", "branch": "stable", "jobs": {"unit": 1}, "conflicts": ["a"]}),
     "t.jsonl:2: conflicts with 'a' of nova/main: a textual conflict needs the same project and branch"),
    (({"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}},
      {"id": "b", "at": 1, "project": "nova", "jobs": {"unit": 1}, "depends": ["a"]},
      {"id": "c", "at": 2, "project": "nova", "jobs": {"unit": 1}, "depends": ["b"], "conflicts": ["a"]}),
     "t.jsonl:3: conflicts with 'a', which one of them is built on"),
    (({"id": "a", "at": 0, "project": "nova", "jobs": {"unit": 1}, "conflicts": ["zz"]},),
     "t.jsonl:1: conflicts with unknown change 'zz'"),
])
def test_conflicts_git_cannot_produce_are_refused_with_their_line(records, message):
    with pytest.raises(ValueError) as exc:
        parse_trace(lines(*records), "t.jsonl")
    assert str(exc.value) == message
