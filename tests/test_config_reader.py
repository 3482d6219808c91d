"""Pathological YAML: each is refused with one `FILE:LINE: message` line,
quickly, never with a RecursionError or a reader traceback."""
from __future__ import annotations

import os
import time

import pytest

from config_fixture import refused, write

SERVER = "connections:\n  distgit: {driver: git, root: repos}\n"


def bomb(levels: int = 10, width: int = 9) -> str:
    """Billion laughs: each anchor repeats the one before `width` times."""
    lines = [f"- job: {{name: j0, run: x, vars: &a0 {{A: [{', '.join(['lol'] * width)}]}}}}"]
    for level in range(1, levels):
        lines.append(f"- job: {{name: j{level}, run: x, vars: &a{level} "
                     f"[{', '.join([f'*a{level - 1}'] * width)}]}}")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 12) -> str:
    """The same through merge keys, which PyYAML flattens by copying."""
    lines = ["- queue: &m0 {name: q, a: 1, b: 2, c: 3, d: 4}"]
    for level in range(1, levels):
        lines.append(f"- queue: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 4)}]}}")
    return "\n".join(lines) + "\n"


CASES = {
    "flow nesting": (lambda: "[" * 100_000, "1: YAML nested more than 50 levels deep"),
    "flow nesting, closed": (lambda: "- " + "[" * 60 + "]" * 60 + "\n",
                             "1: YAML nested more than 50 levels deep"),
    "block nesting": (lambda: "".join("  " * i + "- \n" for i in range(200)) + "  " * 200 + "x\n",
                      "51: YAML nested more than 50 levels deep"),
    "a NUL byte": (lambda: "- queue:\n    name: q\n    x: a\0b\n",
                   "3: a NUL byte is not allowed in YAML"),
    "a control character": (lambda: "- queue: {name: \x07}\n",
                            "1: character U+0007 is not allowed in YAML"),
    "not UTF-8": (lambda: b"- queue:\n    name: caf\xe9\n", "2: not valid UTF-8 (byte 0xe9)"),
    "billion laughs": (bomb, "6: more than 100000 values once aliases are expanded"),
    "merge-key laughs": (merge_bomb, "8: more than 100000 values once aliases are expanded"),
    "a recursive alias": (lambda: "- queue: &q {name: q, self: *q}\n",
                          "1: an alias refers to the collection that holds it"),
    "an impossible date": (lambda: "- job: {name: j, run: x, timeout: 2024-02-30}\n",
                           "1: cannot read a value: day is out of range for month"),
    "a 5000-digit integer": (lambda: "- job: {name: j, run: x, timeout: " + "9" * 5000 + "}\n",
                             "1: cannot read a value: Exceeds the limit (4300 digits) for integer "
                             "string conversion: value has 5000 digits; use "
                             "sys.set_int_max_str_digits() to increase the limit"),
    "a python tag": (lambda: "- queue: !!python/object:os.system {name: q}\n",
                     "1: YAML syntax error: could not determine a constructor for the tag "
                     "'tag:yaml.org,2002:python/object:os.system'"),
    "bad base64": (lambda: "- queue: {name: !!binary 'YQ'}\n",
                   "1: YAML syntax error: failed to decode base64 data: Incorrect padding"),
    "an unhashable key": (lambda: "- queue: {[a]: b}\n", "1: YAML syntax error: found an unhashable key"),
    "two documents": (lambda: "- queue: {name: a}\n---\n- queue: {name: b}\n",
                      "2: YAML syntax error: expected a single document in the stream, "
                      "but found another document"),
}


def layout_dir(tmp_path, text) -> str:
    write(tmp_path, "gateq.yaml", SERVER)
    os.makedirs(tmp_path / "repos", exist_ok=True)
    path = tmp_path / "layouts" / "main.yaml"
    os.makedirs(path.parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(tmp_path)


def fastest(config: str, tries: int = 3) -> tuple[float, list[str]]:
    """The best of a few runs: the machine is shared, a single timing is noise."""
    times, lines = [], []
    for _ in range(tries):
        start = time.perf_counter()
        lines = refused(config)
        times.append(time.perf_counter() - start)
    return min(times), lines


@pytest.mark.parametrize("case", CASES)
def test_pathological_layouts_are_refused_in_one_line_quickly(tmp_path, case):
    text, error = CASES[case]
    seconds, lines = fastest(layout_dir(tmp_path, text()))
    assert lines == [f"layouts/main.yaml:{error}"]
    assert seconds < 0.5, f"{case}: {seconds:.2f} s"   # the best of three: the machine is shared


def test_the_same_guards_hold_for_gateq_yaml(tmp_path):
    config = layout_dir(tmp_path, "- queue: {name: q}\n")
    write(tmp_path, "gateq.yaml", "connections: " + "{a: " * 100 + "\n")
    assert refused(config) == ["gateq.yaml:1: YAML nested more than 50 levels deep"]
    write(tmp_path, "gateq.yaml", SERVER + "state: {path: \0}\n")
    assert refused(config) == ["gateq.yaml:3: a NUL byte is not allowed in YAML"]


def test_a_60_mb_file_is_refused_before_it_is_read(tmp_path):
    config = layout_dir(tmp_path, "- queue: {name: q}\n")
    os.truncate(tmp_path / "layouts" / "main.yaml", 60 * 2**20)
    seconds, lines = fastest(config)
    assert lines == ["layouts/main.yaml:1: too large for a configuration file: "
                     "62914560 bytes (the limit is 262144)"]
    assert seconds < 0.2


def test_a_file_just_under_the_limit_is_read(tmp_path):
    text = "".join(f"- queue: {{name: q{i}}}\n" for i in range(11_000))
    assert 250_000 < len(text) < 256 * 1024
    config = layout_dir(tmp_path, text + "- queue: {name: q0}\n")
    assert refused(config) == [
        "layouts/main.yaml:11001: queue 'q0': duplicate name, first defined at layouts/main.yaml:1"]


def test_values_in_messages_are_cut_short(tmp_path):
    config = layout_dir(tmp_path, "- job: {name: j, run: x, timeout: [" + "1, " * 10_000 + "]}\n"
                                  f"- job: {{name: {'x' * 5000}, run: x}}\n")
    lines = refused(config)
    assert len(lines) == 4 and all(len(line) < 300 for line in lines), lines
