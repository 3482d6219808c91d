"""bench/strategies.py's goal line says, target by target, whether the
issue's goal is met: a figure on the wrong side of its goal says NOT met."""
from __future__ import annotations

import importlib.util
import os
import re

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench():
    spec = importlib.util.spec_from_file_location("bench_strategies", os.path.join(HERE, "bench", "strategies.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell(**figures) -> dict:
    base = {"mean": 1.2, "p95": 1.4, "landed": 99.0, "wasted": 10.0, "vs_zuul": 1.6, "vs_post": 1.05,
            "disagree": 0}
    return {"gateq": base | figures}


TARGET = re.compile(r"(?P<name>[a-z][a-z0-9 -]*?) [0-9.]+[x%]?[^(]*\([<>]= [0-9.]+%?: (?P<verdict>met|NOT met)\)")


def verdicts(line: str) -> dict[str, str]:
    """'mean 1.20x of bound (<= 1.3: met), ...' -> {'mean': 'met', ...}"""
    return {m["name"]: m["verdict"] for m in TARGET.finditer(line.split(": ", 1)[1])}


def test_every_target_met():
    line = bench().goal_line([cell(), cell()])
    assert set(verdicts(line).values()) == {"met"}, line
    assert "mean 1.20x of bound (<= 1.3: met)" in line


def test_each_target_missed_on_its_own_side():
    b = bench()
    misses = {"mean": 1.31, "p95": 1.6, "landed": 97.0, "wasted": 15.5, "vs_zuul": 1.49, "vs_post": 1.2}
    names = {"mean": "mean", "p95": "p95", "landed": "landed good", "wasted": "wasted job-minutes",
             "vs_zuul": "vs zuul", "vs_post": "vs zuul-post"}
    for key, value in misses.items():
        found = verdicts(b.goal_line([cell(**{key: value})]))
        assert found[names[key]] == "NOT met", (key, found)
        assert [n for n, v in found.items() if v == "NOT met"] == [names[key]], (key, found)


def test_a_disagreeing_snapshot_is_not_met():
    line = bench().goal_line([cell(), cell(disagree=2)])
    assert line.endswith("snapshots disagreeing with git 2 (0: NOT met)"), line
