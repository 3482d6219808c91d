"""Configuration loading: real directories in tmp_path, exact error lines.

Each test writes gateq.yaml, layout files and job scripts, then checks
either the objects built or the complete list of `FILE:LINE: message` errors.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import textwrap

import pytest

from config_fixture import make_repository
from gateq.config.loader import ConfigError, load_config
from gateq.config.model import (Config, GitConnection, Job, Manager, MergeMode, Pipeline, Project,
                                WindowDecrease, WindowIncrease,
                                Reporter, Repository, SandboxMode, Trigger, Window)

SERVER = """\
connections:
  distgit:
    driver: git
    root: repos
"""

PIPELINES = """\
- pipeline:
    name: gate
    manager: dependent
    trigger: {distgit: [{event: approved}]}
    success: {distgit: {merge: true}}
- pipeline:
    name: check
    manager: independent
    trigger: {distgit: [{event: proposed}]}
"""


def write(root, name: str, text: str, mode: int | None = None) -> str:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    if mode is not None:
        os.chmod(path, mode)
    return path


PROJECTS = ("nova", "ceilometer", "glance", "gate")     # the repositories under repos/


def make(tmp_path, layouts: dict[str, str] | str = "- queue: {name: shared}\n",
         server: str = SERVER, scripts=("jobs/unit.sh", "jobs/build.sh")) -> str:
    """A configuration directory; a single layout string goes to layouts/main.yaml."""
    os.makedirs(tmp_path / "repos", exist_ok=True)
    for project in PROJECTS:
        make_repository(str(tmp_path / "repos" / f"{project}.git"), ("main", "master"))
    write(tmp_path, "gateq.yaml", server)
    for script in scripts:
        write(tmp_path, script, "#!/bin/sh\nexit 0\n", 0o755)
    if isinstance(layouts, str):
        layouts = {"main.yaml": layouts}
    for name, text in layouts.items():
        write(tmp_path, f"layouts/{name}", text)
    return str(tmp_path)


def errors_of(path: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


# -- valid configurations -------------------------------------------------

FULL_LAYOUT = PIPELINES + """\
- queue:
    name: rdo
- repository:
    name: el9
    type: files
    keep: 3
- repository:
    name: deps
- job:
    name: build
    run: jobs/build.sh
    export: el9
    requires: [deps]
- job:
    name: unit
    run: jobs/unit.sh
    timeout: 600
    voting: false
    dependencies: [build]
    vars: {FOO: bar, COUNT: 3, DEBUG: true}
- project:
    name: nova
    queue: rdo
    merge-mode: squash
    default-branch: master
    check: {jobs: [build, unit]}
    gate: {jobs: [build, unit]}
- project:
    name: ceilometer
    queue: rdo
    gate: {jobs: [build]}
- project:
    name: glance
"""

FULL_SERVER = SERVER + """\
state:
  path: {state}
executor:
  slots: 7
publish:
  root: publish
"""


def test_full_config_builds_every_object(tmp_path):
    state = str(tmp_path / "elsewhere" / "gateq")            # absolute, kept as written
    config = load_config(make(tmp_path, FULL_LAYOUT, FULL_SERVER.format(state=state)))
    root = str(tmp_path)
    assert config.config_dir == root
    assert config.path == os.path.join(root, "gateq.yaml")
    assert config.connections == {"distgit": GitConnection("distgit", os.path.join(root, "repos"))}
    assert config.state_dir == state
    assert config.slots == 7
    layout = config.layout
    assert list(layout.pipelines) == ["gate", "check"]
    gate = layout.pipelines["gate"]
    assert gate == Pipeline("gate", Manager.DEPENDENT, (Trigger("distgit", "approved"),),
                            merge_on_success=True, window=Window(),
                            success=(Reporter("distgit", merge=True),))
    assert gate.dependent
    assert layout.pipelines["check"].merge_on_success is False
    assert layout.jobs["unit"] == Job(
        "unit", os.path.join(root, "jobs/unit.sh"), timeout=600, voting=False,
        dependencies=("build",), vars={"FOO": "bar", "COUNT": "3", "DEBUG": "true"})
    assert layout.jobs["build"].export == "el9"
    assert layout.jobs["build"].requires == ("deps",)
    assert layout.repositories == {"el9": Repository("el9", "files", 3),
                                   "deps": Repository("deps", "rpm", 10)}
    nova = layout.projects["nova"]
    assert nova == Project("nova", "distgit", queue="rdo", default_branch="master",
                           merge_mode=MergeMode.SQUASH,
                           pipelines={"gate": ("build", "unit"), "check": ("build", "unit")})
    assert list(nova.pipelines) == ["gate", "check"]      # pipeline order, not key order
    assert layout.projects["glance"] == Project("glance", "distgit")
    assert layout.queues == frozenset({"rdo"})
    assert layout.queue_projects("rdo") == ("ceilometer", "nova")
    assert layout.queue_projects("glance") == ("glance",)
    assert config.repo_path("nova") == os.path.join(root, "repos", "nova.git")


def test_defaults_come_from_the_schema_and_match_the_model(tmp_path):
    layout = PIPELINES + textwrap.dedent("""\
    - job: {name: unit, run: jobs/unit.sh}
    - project: {name: nova, gate: {jobs: [unit]}}
    """)
    config = load_config(make(tmp_path, layout))
    root = str(tmp_path)
    assert config.state_dir == os.path.join(root, "state")
    assert config.slots == (os.cpu_count() or 1)
    assert config.layout.jobs["unit"] == Job("unit", os.path.join(root, "jobs/unit.sh"))
    assert config.layout.pipelines["check"].window == Window()
    assert config.layout.projects["nova"] == Project("nova", "distgit", pipelines={"gate": ("unit",)})


def test_path_may_name_the_file_or_its_directory(tmp_path):
    make(tmp_path)
    by_dir = load_config(str(tmp_path))
    by_file = load_config(str(tmp_path / "gateq.yaml"))
    assert by_dir == by_file
    assert by_dir.layout.pipelines == {} and by_dir.layout.projects == {}


def test_window_attributes(tmp_path):
    layout = """\
    - pipeline:
        name: gate
        manager: dependent
        window: 10
        window-floor: 2
        window-ceiling: 40
        window-increase-type: exponential
        window-increase-factor: 2
        window-decrease-type: none
        window-decrease-factor: 3
    """
    config = load_config(make(tmp_path, textwrap.dedent(layout)))
    assert config.layout.pipelines["gate"].window == Window(
        10, 2, 40, WindowIncrease.EXPONENTIAL, 2, WindowDecrease.NONE, 3)
    gate = config.layout.pipelines["gate"]
    assert (gate.fail_fast, gate.merge_in_window_only) == (True, False)


def test_fail_fast_and_merge_in_window_only(tmp_path):
    layout = """\
    - pipeline: {name: gate, manager: dependent, fail-fast: false, merge-in-window-only: true}
    """
    gate = load_config(make(tmp_path, textwrap.dedent(layout))).layout.pipelines["gate"]
    assert (gate.fail_fast, gate.merge_in_window_only) == (False, True)


def test_layout_files_are_read_in_name_order_and_yml_counts(tmp_path):
    layouts = {"b.yml": "- queue: {name: second}\n", "a.yaml": "- queue: {name: first}\n",
               "notes.txt": "not yaml: [\n", "empty.yaml": ""}
    config = load_config(make(tmp_path, layouts))
    assert config.layout.queues == frozenset({"first", "second"})


# -- errors, one category at a time -------------------------------------

def test_unknown_attribute(tmp_path):
    layout = """\
    - job:
        name: unit
        run: jobs/unit.sh
        timeot: 600
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:4: job 'unit': unknown attribute 'timeot'"]


def test_wrong_types_and_values(tmp_path):
    layout = PIPELINES + textwrap.dedent("""\
    - job:
        name: unit
        run: jobs/unit.sh
        timeout: soon
        voting: "yes"
        dependencies: build
        vars: {BAD-NAME: x, LIST: [1]}
    - project:
        name: nova
        merge-mode: cherry-pick
        default-branch: ""
        gate: [unit]
    """)
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:13: job 'unit': attribute 'timeout': expected an integer >= 1, got 'soon'",
        "layouts/main.yaml:14: job 'unit': attribute 'voting': expected true or false, got 'yes'",
        "layouts/main.yaml:15: job 'unit': attribute 'dependencies': expected a list",
        "layouts/main.yaml:16: job 'unit': attribute 'vars.BAD-NAME': "
        "not a valid environment variable name: 'BAD-NAME'",
        "layouts/main.yaml:16: job 'unit': attribute 'vars.LIST': "
        "expected a string, number or boolean, got [1]",
        "layouts/main.yaml:19: project 'nova': attribute 'merge-mode': "
        "expected one of merge, squash, rebase, got 'cherry-pick'",
        "layouts/main.yaml:20: project 'nova': attribute 'default-branch': "
        "expected a non-empty string, got ''",
        "layouts/main.yaml:21: project 'nova': attribute 'gate': expected a dictionary",
    ]


def test_pipeline_values(tmp_path):
    layout = """\
    - pipeline:
        name: gate
        manager: serial
        trigger:
          distgit:
            - event: merged
            - {}
    - pipeline:
        manager: dependent
    - pipeline:
        name: queue
        manager: independent
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:3: pipeline 'gate': attribute 'manager': "
        "expected one of dependent, independent, got 'serial'",
        "layouts/main.yaml:6: pipeline 'gate': attribute 'trigger.distgit.event': "
        "expected one of proposed, approved, got 'merged'",
        "layouts/main.yaml:7: pipeline 'gate': missing required attribute 'trigger.distgit.event'",
        "layouts/main.yaml:8: pipeline: missing required attribute 'name'",
        "layouts/main.yaml:11: pipeline 'queue': attribute 'name': "
        "'queue' is a project attribute and cannot name a pipeline",
    ]


def test_missing_required_attributes(tmp_path):
    layout = """\
    - job:
        run: jobs/unit.sh
    - job:
        name: unit
    - queue:
    - project: {}
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:1: job: missing required attribute 'name'",
        "layouts/main.yaml:3: job 'unit': missing required attribute 'run'",
        "layouts/main.yaml:5: queue: expected a dictionary",
        "layouts/main.yaml:6: project: missing required attribute 'name'",
    ]


def test_unknown_object_kinds(tmp_path):
    layout = """\
    - jobs:
        name: unit
    - queue: {name: a}
      job: {name: b}
    - just a string
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:1: unknown object kind 'jobs' "
        "(expected one of: pipeline, queue, repository, job, project)",
        "layouts/main.yaml:3: expected an object with one key naming its kind, such as '- job:'",
        "layouts/main.yaml:5: expected an object with one key naming its kind, such as '- job:'",
    ]


def test_layout_must_be_a_list(tmp_path):
    assert errors_of(make(tmp_path, "job: {name: unit}\n")) == [
        "layouts/main.yaml:1: expected a list of objects such as '- job: {...}'"]


@pytest.mark.parametrize("kind, body", [
    ("pipeline", "{name: gate, manager: dependent}"),
    ("job", "{name: gate, run: jobs/unit.sh}"),
    ("project", "{name: gate}"),
    ("queue", "{name: gate}"),
    ("repository", "{name: gate}"),
])
def test_duplicate_names(tmp_path, kind, body):
    layouts = {"a.yaml": f"- {kind}: {body}\n", "b.yaml": f"\n- {kind}: {body}\n"}
    assert errors_of(make(tmp_path, layouts)) == [
        f"layouts/b.yaml:2: {kind} 'gate': duplicate name, first defined at layouts/a.yaml:1"]


def test_same_name_for_different_kinds_is_fine(tmp_path):
    layout = PIPELINES + "- job: {name: gate, run: jobs/unit.sh}\n- queue: {name: gate}\n"
    assert "gate" in load_config(make(tmp_path, layout)).layout.jobs


def test_duplicate_yaml_key(tmp_path):
    layout = """\
    - job:
        name: unit
        run: jobs/unit.sh
        timeout: 10
        timeout: 20
    """
    assert errors_of(make(tmp_path, layout)) == ["layouts/main.yaml:5: duplicate key 'timeout'"]


def test_unknown_references(tmp_path):
    layout = """\
    - pipeline:
        name: gate
        manager: dependent
        trigger: {gerrit: [{event: approved}]}
        success: {github: {merge: true}}
    - job:
        name: unit
        run: jobs/unit.sh
        dependencies: [biuld]
    - project:
        name: nova
        queue: rdx
        connection: gitlab
        gaet: {jobs: [unit]}
        gate: {jobs: [unit, lint]}
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:4: pipeline 'gate': unknown connection 'gerrit'",
        "layouts/main.yaml:5: pipeline 'gate': unknown connection 'github'",
        "layouts/main.yaml:9: job 'unit': unknown job 'biuld' in dependencies",
        "layouts/main.yaml:12: project 'nova': unknown queue 'rdx'",
        "layouts/main.yaml:13: project 'nova': unknown connection 'gitlab'",
        "layouts/main.yaml:14: project 'nova': unknown attribute 'gaet'",
        "layouts/main.yaml:15: project 'nova': unknown job 'lint' in pipeline 'gate'",
    ]


def test_a_job_listed_twice(tmp_path):
    layout = PIPELINES + "- job: {name: unit, run: jobs/unit.sh}\n" \
                         "- project:\n    name: nova\n    gate:\n      jobs:\n        - unit\n        - unit\n"
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:16: project 'nova': attribute 'gate.jobs': 'unit' is listed twice"]


def test_connection_is_required_when_there_are_several(tmp_path):
    server = SERVER + "  other:\n    driver: git\n    root: repos2\n"
    make_repository(str(tmp_path / "repos2" / "glance.git"))
    layout = "- project: {name: nova}\n- project: {name: glance, connection: other}\n"
    assert errors_of(make(tmp_path, layout, server)) == [
        "layouts/main.yaml:1: project 'nova': missing required attribute 'connection'"]


def test_dependency_cycles_are_reported_once_each(tmp_path):
    layout = """\
    - job: {name: a, run: jobs/unit.sh, dependencies: [b]}
    - job: {name: b, run: jobs/unit.sh, dependencies: [c]}
    - job:
        name: c
        run: jobs/unit.sh
        dependencies:
          - lint
          - a
    - job: {name: lint, run: jobs/unit.sh}
    - job: {name: self, run: jobs/unit.sh, dependencies: [self]}
    - job: {name: x, run: jobs/unit.sh, dependencies: [y]}
    - job: {name: y, run: jobs/unit.sh, dependencies: [x, a]}
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:1: job 'a': dependency cycle a -> b -> c -> a",
        "layouts/main.yaml:10: job 'self': dependency cycle self -> self",
        "layouts/main.yaml:11: job 'x': dependency cycle x -> y -> x",
    ]


def test_dependency_outside_the_project_pipeline(tmp_path):
    layout = PIPELINES + textwrap.dedent("""\
    - job: {name: build, run: jobs/build.sh}
    - job: {name: unit, run: jobs/unit.sh, dependencies: [build]}
    - project:
        name: nova
        check: {jobs: [build, unit]}
        gate:
          jobs:
            - unit
    """)
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:17: project 'nova' pipeline 'gate': "
        "job 'unit' depends on 'build' which this pipeline does not run"]


def test_scripts_must_exist_and_be_executable(tmp_path):
    config_dir = make(tmp_path, """\
    - job: {name: a, run: jobs/missing.sh}
    - job: {name: b, run: jobs/plain.sh}
    - job: {name: c, run: jobs}
    - job: {name: d, run: /bin/sh}
    """)
    write(tmp_path, "jobs/plain.sh", "#!/bin/sh\n", 0o644)
    assert errors_of(config_dir) == [
        "layouts/main.yaml:1: job 'a': attribute 'run': script 'jobs/missing.sh' does not exist",
        "layouts/main.yaml:2: job 'b': attribute 'run': script 'jobs/plain.sh' is not executable",
        "layouts/main.yaml:3: job 'c': attribute 'run': script 'jobs' is not a file",
    ]


@pytest.mark.parametrize("attrs, error", [
    ("window: 0", "4: pipeline 'gate': attribute 'window': expected an integer >= 1, got 0"),
    ("window: true", "4: pipeline 'gate': attribute 'window': expected an integer >= 1, got True"),
    ("window-floor: 0", "4: pipeline 'gate': attribute 'window-floor': expected an integer >= 1, got 0"),
    ("window-increase-factor: 1.5",
     "4: pipeline 'gate': attribute 'window-increase-factor': expected an integer >= 1, got 1.5"),
    ("window-decrease-factor: -1",
     "4: pipeline 'gate': attribute 'window-decrease-factor': expected an integer >= 1, got -1"),
    ("window: 2", "4: pipeline 'gate': attribute 'window': window 2 is below window-floor 3"),
    ("window-floor: 30", "1: pipeline 'gate': attribute 'window': window 20 is below window-floor 30"),
    ("window-ceiling: 2",
     "4: pipeline 'gate': attribute 'window-ceiling': window-ceiling 2 is below window-floor 3"),
    ("window-ceiling: 10",
     "4: pipeline 'gate': attribute 'window-ceiling': window-ceiling 10 is below window 20"),
    ("window-increase-type: none", "4: pipeline 'gate': attribute 'window-increase-type': "
     "expected one of linear, exponential, got 'none'"),
    ("window-decrease-type: halve", "4: pipeline 'gate': attribute 'window-decrease-type': "
     "expected one of linear, exponential, none, got 'halve'"),
])
def test_bad_window_values(tmp_path, attrs, error):
    layout = f"- pipeline:\n    name: gate\n    manager: dependent\n    {attrs}\n"
    assert errors_of(make(tmp_path, layout)) == [f"layouts/main.yaml:{error}"]


def test_merge_only_in_dependent_pipelines(tmp_path):
    layout = "- pipeline:\n    name: check\n    manager: independent\n" \
             "    success:\n      distgit: {merge: true}\n"
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:4: pipeline 'check': attribute 'success': merge needs manager 'dependent'"]


def test_repository_references(tmp_path):
    layout = """\
    - repository: {name: el9, type: deb, keep: 0}
    - job: {name: unit, run: jobs/unit.sh, export: el8, requires: [el9, epel]}
    """
    assert errors_of(make(tmp_path, layout)) == [
        "layouts/main.yaml:1: repository 'el9': attribute 'type': expected one of rpm, files, got 'deb'",
        "layouts/main.yaml:1: repository 'el9': attribute 'keep': expected an integer >= 1, got 0",
        "layouts/main.yaml:2: job 'unit': unknown repository 'el8' in export",
        "layouts/main.yaml:2: job 'unit': unknown repository 'epel' in requires",
    ]


# -- gateq.yaml -----------------------------------------------------------

def test_server_errors(tmp_path):
    server = """\
    connections:
      distgit:
        driver: fossil
        root: missing
      local:
        root: repos
      other:
        driver: git
        root: missing
    state: {path: 12}
    executor:
      slots: 0
    publish: {root: [a]}
    scheduler: {}
    """
    assert errors_of(make(tmp_path, server=server)) == [
        "gateq.yaml:3: connection 'distgit': attribute 'driver': unknown driver 'fossil' "
        "(one of git, gerrit, gitea, github, gitlab)",
        "gateq.yaml:5: connection 'local': missing required attribute 'driver'",
        "gateq.yaml:9: connection 'other': attribute 'root': directory 'missing' does not exist",
        "gateq.yaml:10: state: attribute 'path': expected a non-empty string, got 12",
        "gateq.yaml:12: executor: attribute 'slots': expected an integer >= 1, got 0",
        "gateq.yaml:13: publish: attribute 'root': expected a non-empty string, got ['a']",
        "gateq.yaml:14: unknown attribute 'scheduler'",
    ]


@pytest.mark.parametrize("server, error", [
    ("", "gateq.yaml:1: missing required attribute 'connections'"),
    ("connections: {}\n", "gateq.yaml:1: attribute 'connections': at least one connection is required"),
    (SERVER + "executor: {slots: true}\n",
     "gateq.yaml:5: executor: attribute 'slots': expected an integer >= 1, got True"),
    (SERVER + "executor: {slots: 2.5}\n",
     "gateq.yaml:5: executor: attribute 'slots': expected an integer >= 1, got 2.5"),
    ("- connections\n", "gateq.yaml:1: expected a dictionary"),
])
def test_server_shapes(tmp_path, server, error):
    assert errors_of(make(tmp_path, server=server)) == [error]


def test_missing_configuration_file(tmp_path):
    assert errors_of(str(tmp_path / "nowhere")) == [
        f"{tmp_path}/nowhere:1: no such configuration file"]
    assert errors_of(str(tmp_path)) == [f"{tmp_path}/gateq.yaml:1: no such configuration file"]


def test_yaml_syntax_errors(tmp_path):
    server = SERVER + "state:\n  path: [unclosed\n"
    layouts = {"a.yaml": "- job:\n    name: unit\n   run: x\n"}
    assert errors_of(make(tmp_path, layouts, server)) == [
        "gateq.yaml:7: YAML syntax error: expected ',' or ']', but got '<stream end>'",
        "layouts/a.yaml:3: YAML syntax error: expected <block end>, but found '<block mapping start>'",
    ]


def test_every_error_of_every_file_at_once(tmp_path):
    server = SERVER + "executor: {slots: many}\n"
    layouts = {
        "a.yaml": "- job: {name: unit, run: jobs/none.sh}\n",
        "b.yaml": "- project: {name: nova, queue: missing}\n- oops: {}\n",
    }
    assert errors_of(make(tmp_path, layouts, server)) == [
        "gateq.yaml:5: executor: attribute 'slots': expected an integer >= 1, got 'many'",
        "layouts/a.yaml:1: job 'unit': attribute 'run': script 'jobs/none.sh' does not exist",
        "layouts/b.yaml:1: project 'nova': unknown queue 'missing'",
        "layouts/b.yaml:2: unknown object kind 'oops' "
        "(expected one of: pipeline, queue, repository, job, project)",
    ]


def test_unparsable_gateq_yaml_does_not_cascade_into_the_layouts(tmp_path):
    layout = PIPELINES + "- project: {name: nova}\n"
    assert errors_of(make(tmp_path, layout, server="connections: [\n")) == [
        "gateq.yaml:2: YAML syntax error: expected the node content, but found '<stream end>'"]


# -- executor.sandbox -----------------------------------------------------

def test_sandbox_defaults_to_auto_in_the_schema_and_the_model(tmp_path):
    config = load_config(make(tmp_path))
    assert config.sandbox is SandboxMode.AUTO
    assert {f.name: f.default for f in dataclasses.fields(Config)}["sandbox"] is SandboxMode.AUTO


@pytest.mark.parametrize("value, mode", [("auto", SandboxMode.AUTO), ("none", SandboxMode.NONE)])
def test_sandbox_auto_and_none_never_depend_on_bwrap(tmp_path, monkeypatch, value, mode):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert load_config(make(tmp_path, server=SERVER + f"executor: {{sandbox: {value}}}\n")).sandbox is mode


def test_sandbox_bwrap_where_bwrap_works(tmp_path):
    if shutil.which("bwrap") is None and os.environ.get("CI") != "true":
        pytest.skip("needs bwrap (Debian: apt-get install bubblewrap)")
    config = load_config(make(tmp_path, server=SERVER + "executor: {sandbox: bwrap}\n"))
    assert config.sandbox is SandboxMode.BWRAP


def test_sandbox_bwrap_without_bwrap_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    server = SERVER + "executor:\n  slots: 2\n  sandbox: bwrap\n"
    assert errors_of(make(tmp_path, server=server)) == [
        "gateq.yaml:7: executor: attribute 'sandbox': bwrap is not installed "
        "(Debian: apt-get install bubblewrap); set auto or none to run builds without it"]


@pytest.mark.parametrize("value, got", [("docker", "'docker'"), ("on", "True"), ("[bwrap]", "['bwrap']")])
def test_bad_sandbox_values(tmp_path, value, got):
    assert errors_of(make(tmp_path, server=SERVER + f"executor: {{sandbox: {value}}}\n")) == [
        f"gateq.yaml:5: executor: attribute 'sandbox': expected one of auto, bwrap, none, got {got}"]
