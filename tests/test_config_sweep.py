"""A generated sweep of bad configurations: mutations of one valid
configuration (wrong types at every attribute, unknown and missing keys,
bad names, NUL bytes, bad references, dangerous places) and pathological
files. Each must be refused by `gateq validate` with exit status 1 and
nothing but `FILE:LINE: message` lines, and no traceback anywhere."""
from __future__ import annotations

import copy
import itertools
import os
import tempfile

import shutil

import yaml

from config_fixture import ERROR_LINE, make_repository, validate, write
from test_config_reader import CASES as PATHOLOGICAL

SHARED = tempfile.mkdtemp(prefix="gateq-sweep-")
REPOS = os.path.join(SHARED, "repos")
UNIT = write(SHARED, "jobs/unit.sh", "#!/bin/sh\nexit 0\n", 0o755)
NODE_KEY = write(SHARED, "nodes/id_ed25519", "a key\n")
NODE_KNOWN_HOSTS = write(SHARED, "nodes/known_hosts", "")

SERVER = {
    "connections": {"distgit": {"driver": "git", "root": REPOS}},
    "state": {"path": "state"},
    "executor": {"slots": 2, "sandbox": "none"},
    "publish": {"root": "publish"},
    "logs": {"keep-days": 30, "keep-count": 5, "max-output": "64M"},
    "checkpoint": {"interval": 100},
    "nodes": [{"name": "builder1", "host": "10.0.0.5", "port": 22, "user": "gateq",
               "sshkey": NODE_KEY, "known-hosts": NODE_KNOWN_HOSTS, "slots": 4,
               "labels": ["fedora-40", "x86_64"]}],
}

LAYOUT = [
    {"pipeline": {"name": "check", "manager": "independent",
                  "trigger": {"distgit": [{"event": "proposed"}]}}},
    {"pipeline": {"name": "gate", "manager": "dependent",
                  "trigger": {"distgit": [{"event": "approved"}]},
                  "success": {"distgit": {"merge": True}},
                  "window": 10, "window-floor": 2, "window-ceiling": 40,
                  "window-increase-type": "linear", "window-increase-factor": 1,
                  "window-decrease-type": "exponential", "window-decrease-factor": 2}},
    {"queue": {"name": "rdo"}},
    {"repository": {"name": "el9", "type": "rpm", "keep": 3}},
    {"job": {"name": "build", "run": UNIT, "timeout": 600, "voting": True, "export": "el9",
             "vars": {"FOO": "bar", "N": 3}}},
    {"job": {"name": "unit", "run": UNIT, "dependencies": ["build"], "requires": ["el9"],
             "nodeset": {"label": "fedora-40"}}},
    {"project": {"name": "nova", "queue": "rdo", "connection": "distgit", "default-branch": "main",
                 "merge-mode": "squash", "check": {"jobs": ["build"]},
                 "gate": {"jobs": ["build", "unit"]}}},
    {"project": {"name": "ceilometer", "queue": "rdo", "gate": {"jobs": ["noop"]}}},
]

for _project in ("nova", "ceilometer"):
    make_repository(os.path.join(REPOS, f"{_project}.git"))

# Wrong values by what an attribute holds; every one is invalid wherever it goes.
NUL = "a\0b"
WRONG = {
    "name": ["../x", ".", "", "a b", "x" * 101, NUL, 12, ["n"]],
    "text": [12, [], {}, NUL, "", "\ud800"],
    "count": [0, -1, 2.5, "ten", True, []],
    "flag": ["yes", 1, None, []],
    "list": ["x", {}, [1], [NUL]],
    "days": [0, -1, "month", True, []],
    "size": ["64MB", 0, "1.5M", [], NUL],
    "var": [[], {}, NUL, "\udcff"],
    "dict": ["x", [], 12],
    "item": ["x", [], 12],
    "nodes": ["x", 12, {}, [[]]],
    "port": [0, 65536, "ssh", True],
}
KINDS = {
    "name": "name", "driver": "text", "root": "text", "path": "text", "sandbox": "text",
    "manager": "text", "event": "text", "type": "text", "run": "text", "default-branch": "text",
    "merge-mode": "text", "window-increase-type": "text", "window-decrease-type": "text",
    "queue": "text", "export": "text", "connection": "text",
    "host": "text", "user": "text", "sshkey": "text", "known-hosts": "text", "label": "text",
    "nodes": "nodes", "port": "port", "labels": "list",
    "slots": "count", "window": "count", "window-floor": "count", "window-ceiling": "count",
    "window-increase-factor": "count", "window-decrease-factor": "count", "keep": "count",
    "timeout": "count", "keep-count": "count", "interval": "count",
    "voting": "flag", "merge": "flag",
    "dependencies": "list", "requires": "list", "jobs": "list",
    "keep-days": "days", "max-output": "size",
}
REQUIRED = {"connections", "driver", "root", "name", "manager", "run", "jobs", "event",
            "host", "user", "sshkey", "known-hosts", "labels", "label"}


def leaves(node, path=()):
    """(path, key) of every attribute and list item below `node`."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield path + (key,), key
        yield from leaves(value, path + (key,))


def kind_of(path: tuple, key) -> str:
    if "vars" in path[:-1]:
        return "var"
    if path[-2:-1] == ("trigger",):
        return "list"                      # a connection's trigger events
    return KINDS.get(key, "dict" if isinstance(key, str) else "item")


def at(document, path: tuple):
    for step in path:
        document = document[step]
    return document


def replaced(document, path: tuple, value=None, delete: bool = False):
    document = copy.deepcopy(document)
    parent = at(document, path[:-1])
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def mutations():
    """(id, which document, the mutated document) for each generated case:
    a wrong value for every attribute, taken in turn from its kind's list so
    that each wrong value is used somewhere, every required attribute
    missing, and an unknown key in every dictionary."""
    turn = itertools.count()
    for which, base in (("server", SERVER), ("layout", LAYOUT)):
        for path, key in leaves(base):
            where = "/".join(map(str, path))
            wrong = WRONG[kind_of(path, key)]
            value = wrong[next(turn) % len(wrong)]
            yield f"{which}:{where}={value!r}", which, replaced(base, path, value)
            if key in REQUIRED and "publish" not in path:
                yield f"{which}:{where}:missing", which, replaced(base, path, delete=True)
            if isinstance(at(base, path), dict) and key != "vars":
                bad = {**at(base, path), "bogus key": 1}
                yield f"{which}:{where}:unknown", which, replaced(base, path, bad)
    yield "server:unknown", "server", {**SERVER, "bogus key": 1}


def case(server=SERVER, layout=LAYOUT):
    return server, layout


def layout_with(index: int, kind: str, **changes):
    layout = copy.deepcopy(LAYOUT)
    layout[index][kind].update(changes)
    return layout


SEMANTIC = {
    "gate lists no jobs": case(layout=layout_with(6, "project", gate={"jobs": []})),
    "a job called noop": case(layout=LAYOUT + [{"job": {"name": "noop", "run": UNIT}}]),
    "unknown default branch": case(layout=layout_with(6, "project", **{"default-branch": "master"})),
    "project without repository": case(layout=LAYOUT + [{"project": {"name": "glance"}}]),
    "project path without repository": case(layout=LAYOUT + [{"project": {"name": "a/b"}}]),
    "unknown job in a pipeline": case(layout=layout_with(6, "project", gate={"jobs": ["lint"]})),
    "unknown queue": case(layout=layout_with(6, "project", queue="nope")),
    "unknown connection": case(layout=layout_with(6, "project", connection="nope")),
    "unknown export": case(layout=layout_with(4, "job", export="nope")),
    "unknown requirement": case(layout=layout_with(5, "job", requires=["nope"])),
    "unknown dependency": case(layout=layout_with(5, "job", dependencies=["nope"])),
    "unknown trigger connection": case(layout=layout_with(0, "pipeline", trigger={"nope": []})),
    "unknown success connection": case(layout=layout_with(1, "pipeline", success={"nope": {}})),
    "dependency cycle": case(layout=layout_with(4, "job", dependencies=["unit"])),
    "dependency not run": case(layout=layout_with(6, "project", check={"jobs": ["unit"]})),
    "window below floor": case(layout=layout_with(1, "pipeline", window=1)),
    "ceiling below window": case(layout=layout_with(1, "pipeline", **{"window-ceiling": 5})),
    "merge in an independent pipeline": case(layout=layout_with(0, "pipeline",
                                                                success={"distgit": {"merge": True}})),
    "duplicate job": case(layout=LAYOUT + [{"job": {"name": "unit", "run": UNIT}}]),
    "listed twice": case(layout=layout_with(6, "project", gate={"jobs": ["build", "build"]})),
    "pipeline named like a project attribute": case(layout=layout_with(0, "pipeline", name="queue")),
    "script missing": case(layout=layout_with(4, "job", run="jobs/missing.sh")),
    "script is a directory": case(layout=layout_with(4, "job", run=SHARED)),
    "var name": case(layout=layout_with(4, "job", vars={"BAD-NAME": "x"})),
    "var too long": case(layout=layout_with(4, "job", vars={"BIG": "x" * 140_000})),
    "state is /dev/null": case(server=replaced(SERVER, ("state", "path"), "/dev/null")),
    "publish is a file": case(server=replaced(SERVER, ("publish", "root"), UNIT)),
    "state under a file": case(server=replaced(SERVER, ("state", "path"), UNIT + "/state")),
    "state is the repositories": case(server=replaced(SERVER, ("state", "path"), REPOS)),
    "publish inside the repositories": case(server=replaced(SERVER, ("publish", "root"), REPOS + "/p")),
    "publish is state": case(server=replaced(SERVER, ("publish", "root"), "state")),
    "root missing": case(server=replaced(SERVER, ("connections", "distgit", "root"), "missing")),
    "root is a file": case(server=replaced(SERVER, ("connections", "distgit", "root"), UNIT)),
    "no connections": case(server=replaced(SERVER, ("connections",), {})),
    "layout not a list": case(layout={"job": {"name": "x"}}),
    "two kinds in one item": case(layout=[{"queue": {"name": "a"}, "job": {"name": "b"}}]),
    "unknown kind": case(layout=LAYOUT + [{"jobs": {"name": "x"}}]),
    "an item that is a string": case(layout=LAYOUT + ["queue"]),
    "server is a list": case(server=["connections"]),
    "server is empty": case(server=None),
    "no objects": case(layout=None),
    "unknown nodeset label": case(layout=layout_with(5, "job", nodeset={"label": "fedora-41"})),
    "two nodes of one name": case(server={**SERVER, "nodes": SERVER["nodes"] * 2}),
    "no labels on a node": case(server=replaced(SERVER, ("nodes", 0, "labels"), [])),
    "known-hosts missing": case(server=replaced(SERVER, ("nodes", 0, "known-hosts"), "nowhere")),
}

RAW = {
    "tab indentation": ("server", "connections:\n\tdistgit: {}\n"),
    "duplicate key": ("server", "connections: {}\nconnections: {}\n"),
    "unclosed flow": ("layout", "- job: {name: x\n"),
    "bad indentation": ("layout", "- job:\n    name: unit\n   run: x\n"),
    "undefined alias": ("layout", "- queue: *nowhere\n"),
    "a bare scalar": ("layout", "just words\n"),
    "non-UTF-8 gateq.yaml": ("server", b"connections: {caf\xe9: {}}\n"),
    "UTF-16 layout": ("layout", "- queue: {name: q}\n".encode("utf-16")),
    "a 60 MB layout": ("layout", None),
}
for _name, (_text, _error) in PATHOLOGICAL.items():
    RAW[f"layout: {_name}"] = ("layout", _text())
    RAW[f"gateq.yaml: {_name}"] = ("server", _text())

CASES = {name: ("data", server, layout) for name, (server, layout) in SEMANTIC.items()}
for _id, _which, _document in mutations():
    CASES[_id] = ("data", _document, LAYOUT) if _which == "server" else ("data", SERVER, _document)
for _name, (_which, _text) in RAW.items():
    CASES[f"raw {_name}"] = ("raw", _which, _text)
CASES["no layouts folder"] = ("no-layouts", None, None)
CASES["gateq.yaml is a directory"] = ("config-dir", None, None)


def dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=10_000, default_flow_style=None)


def write_case(root: str, how: str, first, second) -> None:
    if how == "data":
        write(root, "gateq.yaml", dump(first))
        if second is not None:
            write(root, "layouts/main.yaml", dump(second))
        else:
            os.makedirs(os.path.join(root, "layouts"))
    elif how == "raw":
        write(root, "gateq.yaml", dump(SERVER))
        write(root, "layouts/main.yaml", dump(LAYOUT))
        path = os.path.join(root, "gateq.yaml" if first == "server" else "layouts/main.yaml")
        with open(path, "wb") as f:
            f.write(second if isinstance(second, bytes) else (second or "").encode())
        if second is None:
            os.truncate(path, 60 * 2**20)
    elif how == "no-layouts":
        write(root, "gateq.yaml", dump(SERVER))
    else:
        os.makedirs(os.path.join(root, "gateq.yaml"))


def test_the_base_configuration_is_valid(tmp_path):
    write_case(str(tmp_path), "data", SERVER, LAYOUT)
    rc, out, err = validate(tmp_path)
    assert (rc, err) == (0, ""), err


def test_the_sweep_is_large():
    assert len(CASES) >= 150, len(CASES)


def problems(name: str) -> str | None:
    """What is wrong with how case `name` is refused, or None when all is well."""
    root = tempfile.mkdtemp(dir=SHARED)
    try:
        write_case(root, *CASES[name])
        rc, out, err = validate(root)
    finally:
        shutil.rmtree(root)
    lines = err.splitlines()
    if "Traceback" in out + err:
        return f"a traceback: {err[-300:]!r}"
    if rc != 1 or out or not lines or not all(ERROR_LINE.match(line) for line in lines):
        return f"exit {rc}, stdout {out[:200]!r}, stderr {err[:300]!r}"
    return None


def test_every_bad_configuration_is_refused_in_file_line_lines():
    """One test for all cases: pytest's own cost per test would be most of
    the time here. A failure lists every case that went wrong, and how."""
    wrong = {name: problem for name in CASES if (problem := problems(name))}
    assert not wrong, "\n".join(f"{name}: {problem}" for name, problem in wrong.items())
