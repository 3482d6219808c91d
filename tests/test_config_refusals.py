"""Configurations `gateq validate` must refuse (issue 8), through the CLI and
real files: each test writes a configuration directory with real git
repositories and checks the exact `FILE:LINE: message` lines printed."""
from __future__ import annotations

import os

import pytest

from config_fixture import git, make_repository, refused, validate, write
from gateq.config.loader import ConfigError, load_config
from gateq.config.model import Job

SERVER = """\
connections:
  distgit:
    driver: git
    root: repos
"""

# Ten lines: objects appended to it start at line 11.
LAYOUT = """\
- pipeline:
    name: gate
    manager: dependent
    trigger: {distgit: [{event: approved}]}
    success: {distgit: {merge: true}}
- pipeline:
    name: check
    manager: independent
    trigger: {distgit: [{event: proposed}]}
- job: {name: unit, run: jobs/unit.sh}
"""

NAME_RULE = ("letters, digits, '.', '_' and '-', starting with a letter or digit, "
             "at most 100 characters")


def make(tmp_path, layout: str | None = LAYOUT, server: str = SERVER,
         repos: dict[str, tuple[str, ...]] | None = None) -> str:
    """A configuration directory; `repos` maps project names to their branches
    (bare repositories under repos/, default: nova with main)."""
    os.makedirs(tmp_path / "repos", exist_ok=True)
    write(tmp_path, "gateq.yaml", server)
    write(tmp_path, "jobs/unit.sh", "#!/bin/sh\nexit 0\n", 0o755)
    if layout is not None:
        write(tmp_path, "layouts/main.yaml", layout)
    for project, branches in (repos if repos is not None else {"nova": ("main",)}).items():
        make_repository(str(tmp_path / "repos" / f"{project}.git"), branches)
    return str(tmp_path)


def accepted(path: str) -> None:
    rc, out, err = validate(path)
    assert (rc, err) == (0, ""), err
    assert out.endswith(": configuration is valid\n")


# -- 1. a dependent pipeline lands nothing untested ------------------------

def test_a_dependent_pipeline_listing_no_jobs_is_refused(tmp_path):
    layout = LAYOUT + "- project:\n    name: nova\n    check: {jobs: []}\n    gate: {jobs: []}\n"
    assert refused(make(tmp_path, layout)) == [
        "layouts/main.yaml:14: project 'nova' pipeline 'gate': lists no jobs, so its changes "
        "would land untested (list the built-in job 'noop' to land them without testing)"]


def test_the_line_is_that_of_the_empty_jobs_list(tmp_path):
    layout = LAYOUT + "- project:\n    name: nova\n    gate:\n      jobs:\n"
    assert refused(make(tmp_path, layout + "        []\n"))[0].startswith("layouts/main.yaml:14: ")


def test_noop_is_a_built_in_job_that_lands_without_testing(tmp_path):
    layout = LAYOUT + "- project:\n    name: nova\n    gate: {jobs: [noop]}\n    check: {jobs: []}\n"
    accepted(make(tmp_path, layout))
    layout_built = load_config(str(tmp_path)).layout
    assert layout_built.jobs["noop"] == Job("noop", run=None)
    assert layout_built.projects["nova"].pipelines == {"gate": ("noop",), "check": ()}


def test_noop_cannot_be_defined(tmp_path):
    layout = LAYOUT + "- job:\n    name: noop\n    run: jobs/unit.sh\n"
    assert refused(make(tmp_path, layout)) == [
        "layouts/main.yaml:12: job 'noop': attribute 'name': noop is built in "
        "(it succeeds without running anything) and cannot be defined"]


# -- 2. names that become paths ----------------------------------------------

def test_a_repository_name_escaping_the_publish_root_is_refused(tmp_path):
    layout = LAYOUT + "- repository: {name: ../../escaped}\n"
    assert refused(make(tmp_path, layout)) == [
        f"layouts/main.yaml:11: repository '../../escaped': attribute 'name': "
        f"not a valid repository name ({NAME_RULE})"]


def test_a_job_name_that_is_a_path_is_refused(tmp_path):
    layout = LAYOUT + "- job:\n    name: ../x\n    run: jobs/unit.sh\n"
    assert refused(make(tmp_path, layout)) == [
        f"layouts/main.yaml:12: job '../x': attribute 'name': not a valid job name ({NAME_RULE})"]


@pytest.mark.parametrize("name, shown", [
    ("..", "'..'"), (".", "'.'"), (".hidden", "'.hidden'"), ("-x", "'-x'"), ("a b", "'a b'"),
    ("a:b", "'a:b'"), ("a/b", "'a/b'"), ('"a\\nb"', "'a\\nb'"), ('"a\\tb"', "'a\\tb'"),
    ("x" * 101, "'" + "x" * 101 + "'"), ("é", "'é'"),
])
@pytest.mark.parametrize("kind", ["pipeline", "queue", "job", "repository"])
def test_bad_object_names(tmp_path, kind, name, shown):
    body = {"pipeline": "manager: independent", "job": "run: jobs/unit.sh"}.get(kind, "")
    layout = f"- {kind}:\n    name: {name}\n    {body}\n"
    assert refused(make(tmp_path, layout)) == [
        f"layouts/main.yaml:2: {kind} {shown}: attribute 'name': not a valid {kind} name ({NAME_RULE})"]


@pytest.mark.parametrize("name", ["../nova", "a/../b", "/nova", "a//b", "a/", "a/./b", "a/.git",
                                  "a/-b", "nova/" + "x" * 100])
def test_bad_project_names(tmp_path, name):
    layout = LAYOUT + f"- project:\n    name: {name}\n"
    assert refused(make(tmp_path, layout)) == [
        f"layouts/main.yaml:12: project '{name}': attribute 'name': not a valid project name "
        f"({NAME_RULE}; '/' may join several such names)"]


def test_project_names_may_be_paths_of_valid_names(tmp_path):
    layout = LAYOUT + "- project: {name: openstack/nova.rpm_x-1, gate: {jobs: [unit]}}\n"
    accepted(make(tmp_path, layout, repos={"openstack/nova.rpm_x-1": ("main",)}))


@pytest.mark.parametrize("name", ["../c", ".", "a b", "x" * 101])
def test_bad_connection_names(tmp_path, name):
    server = f"connections:\n  {name!r}:\n    driver: git\n    root: repos\n"
    lines = refused(make(tmp_path, "- queue: {name: q}\n", server))
    assert lines == [f"gateq.yaml:2: connection '{name}': not a valid connection name ({NAME_RULE})"]


def test_a_project_needs_a_repository_in_its_connection(tmp_path):
    layout = LAYOUT + "- project: {name: glance}\n"
    assert refused(make(tmp_path, layout)) == [
        "layouts/main.yaml:11: project 'glance': no git repository in connection 'distgit' "
        "(looked for repos/glance.git and repos/glance)"]


def test_a_project_repository_may_be_bare_or_not_with_or_without_git_suffix(tmp_path):
    layout = LAYOUT + "- project: {name: a}\n- project: {name: b}\n- project: {name: c}\n"
    config = make(tmp_path, layout, repos={})
    make_repository(os.path.join(config, "repos", "a.git"))
    make_repository(os.path.join(config, "repos", "b"))
    make_repository(os.path.join(config, "repos", "c"), bare=False)
    accepted(config)


def test_a_plain_directory_inside_a_git_checkout_is_not_a_repository(tmp_path):
    """git would find the checkout around it: the check must not."""
    layout = LAYOUT + "- project: {name: glance}\n"
    config = make(tmp_path, layout)
    git("init", "-q", config, cwd=config)
    os.makedirs(os.path.join(config, "repos", "glance"))
    assert refused(config) == [
        "layouts/main.yaml:11: project 'glance': repos/glance is not a git repository "
        "(looked for repos/glance.git and repos/glance)"]


def test_branches_may_be_packed(tmp_path):
    layout = LAYOUT + "- project:\n    name: nova\n    default-branch: stable/1\n"
    config = make(tmp_path, layout, repos={"nova": ("main", "stable/1")})
    git("pack-refs", "--all", cwd=os.path.join(config, "repos", "nova.git"))
    assert not os.path.exists(os.path.join(config, "repos", "nova.git", "refs", "heads", "main"))
    accepted(config)
    write(config, "layouts/main.yaml", layout.replace("stable/1", "stable/2"))
    assert refused(config) == [
        "layouts/main.yaml:13: project 'nova': default-branch 'stable/2' is not a branch of "
        "repos/nova.git (branches: main, stable/1)"]


def test_plain_repositories_are_checked_from_their_files_without_running_git(tmp_path, monkeypatch):
    """Every command loads the configuration, for maybe hundreds of projects:
    loose and packed branches of bare and non-bare repositories are read
    from git's files, and git runs only when something looks wrong."""
    layout = LAYOUT + "- project: {name: nova, default-branch: packed}\n- project: {name: glance}\n"
    config = make(tmp_path, layout, repos={"nova": ("main", "packed")})
    make_repository(os.path.join(config, "repos", "glance"), bare=False)
    git("pack-refs", "--all", cwd=os.path.join(config, "repos", "nova.git"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    accepted(config)


def test_a_linked_worktree_is_a_repository(tmp_path):
    """Its .git is a file naming the repository's own git directory."""
    config = make(tmp_path, LAYOUT + "- project: {name: glance}\n", repos={})
    main = make_repository(str(tmp_path / "elsewhere" / "glance"), ("main", "other"), bare=False)
    git("worktree", "add", "-q", os.path.join(config, "repos", "glance"), "other", cwd=main)
    assert os.path.isfile(os.path.join(config, "repos", "glance", ".git"))
    accepted(config)


# -- 3. values the engine cannot use ------------------------------------------

@pytest.mark.parametrize("attr, value, line, error", [
    ("vars", '{FOO: "a\\0b"}', 13, "attribute 'vars.FOO': contains a NUL byte"),
    ("run", '"jobs/unit.sh\\0"', 13, "attribute 'run': contains a NUL byte"),
    ("timeout", '"\\0"', 13, "attribute 'timeout': expected an integer >= 1, got '\\x00'"),
    ("vars", '{FOO: "\\ud800"}', 13,
     "attribute 'vars.FOO': contains a lone surrogate (\\ud800-\\udfff), which is not a character"),
    ("run", '"jobs/\\udcff.sh"', 13,
     "attribute 'run': contains a lone surrogate (\\ud800-\\udfff), which is not a character"),
])
def test_nul_bytes_and_surrogates_in_job_strings(tmp_path, attr, value, line, error):
    layout = LAYOUT + f"- job:\n    name: lint\n    {attr}: {value}\n"
    if attr != "run":
        layout += "    run: jobs/unit.sh\n"
    assert refused(make(tmp_path, layout)) == [f"layouts/main.yaml:{line}: job 'lint': {error}"]


def test_nul_bytes_in_gateq_yaml_strings(tmp_path):
    server = SERVER + 'state: {path: "st\\0ate"}\npublish: {root: "\\0"}\n'
    assert refused(make(tmp_path, server=server)) == [
        "gateq.yaml:5: state: attribute 'path': contains a NUL byte",
        "gateq.yaml:6: publish: attribute 'root': contains a NUL byte"]


def test_nul_byte_in_a_default_branch(tmp_path):
    layout = LAYOUT + '- project:\n    name: nova\n    default-branch: "ma\\0in"\n'
    assert refused(make(tmp_path, layout)) == [
        "layouts/main.yaml:13: project 'nova': attribute 'default-branch': contains a NUL byte"]


def test_a_var_longer_than_linux_allows_in_the_environment(tmp_path):
    """execve takes BIG=value and its NUL up to 131072 bytes, and no more."""
    def layout(size: int) -> str:
        return LAYOUT + f"- job: {{name: lint, run: jobs/unit.sh, vars: {{BIG: {'x' * size}}}}}\n"
    accepted(make(tmp_path, layout(131067)))
    write(tmp_path, "layouts/main.yaml", layout(131068))
    assert refused(tmp_path) == [
        "layouts/main.yaml:11: job 'lint': attribute 'vars.BIG': longer than the 131072 bytes "
        "Linux allows for one environment variable"]


@pytest.mark.parametrize("project, branches, error", [
    ("- project:\n    name: nova\n    default-branch: master\n", ("main",),
     "13: project 'nova': default-branch 'master' is not a branch of repos/nova.git (branches: main)"),
    ("- project:\n    name: nova\n", ("master", "stable/2024.1"),
     "11: project 'nova': default-branch 'main' is not a branch of repos/nova.git "
     "(branches: master, stable/2024.1)"),
    ("- project:\n    name: nova\n", tuple(f"b{i}" for i in range(11)),
     "11: project 'nova': default-branch 'main' is not a branch of repos/nova.git (it has 11 branches)"),
    ("- project:\n    name: nova\n", (),
     "11: project 'nova': default-branch 'main' is not a branch of repos/nova.git (it has no branches)"),
])
def test_the_default_branch_must_exist(tmp_path, project, branches, error):
    assert refused(make(tmp_path, LAYOUT + project, repos={"nova": branches})) == [
        f"layouts/main.yaml:{error}"]


@pytest.mark.parametrize("places, error", [
    ("state: {path: /dev/null}", "5: state: attribute 'path': '/dev/null' is not a directory"),
    ("publish: {root: gateq.yaml}", "5: publish: attribute 'root': 'gateq.yaml' is not a directory"),
    ("state: {path: gateq.yaml/state}",
     "5: state: attribute 'path': 'gateq.yaml/state' cannot be created: 'gateq.yaml' is not a directory"),
    ("state: {path: repos}",
     "5: state: attribute 'path': 'repos' is the same directory as connections.distgit.root"),
    ("state: {path: repos/state}",
     "5: state: attribute 'path': 'repos/state' is inside connections.distgit.root 'repos'"),
    ("state: {path: s}\npublish: {root: s/publish}",
     "6: publish: attribute 'root': 's/publish' is inside state.path 's'"),
    ("state: {path: s}\npublish: {root: ./s}",
     "6: publish: attribute 'root': 's' is the same directory as state.path"),
    ("state: {path: state}\npublish: {root: link}",
     "6: publish: attribute 'root': 'link' is the same directory as state.path"),
    ("  other: {driver: git, root: repos}",
     "5: connection 'other': attribute 'root': 'repos' is the same directory as connections.distgit.root"),
    ("  other: {driver: git, root: gateq.yaml}",
     "5: connection 'other': attribute 'root': 'gateq.yaml' is not a directory"),
])
def test_state_publish_and_roots_are_distinct_directories(tmp_path, places, error):
    config = make(tmp_path, "- queue: {name: q}\n", SERVER + places + "\n", repos={})
    os.makedirs(os.path.join(config, "state"))
    os.symlink("state", os.path.join(config, "link"))
    assert refused(config) == [f"gateq.yaml:{error}"]


def test_a_default_place_inside_another_is_reported_too(tmp_path):
    """publish.root defaults to publish/, inside a state directory `.`."""
    config = make(tmp_path, "- queue: {name: q}\n", SERVER + "state: {path: .}\n", repos={})
    assert refused(config) == [
        "gateq.yaml:1: publish: attribute 'root': 'publish' is inside state.path '.'",
        "gateq.yaml:5: state: attribute 'path': '.' holds connections.distgit.root 'repos'"]


def unwritable_directory(tmp_path) -> str:
    if os.geteuid() != 0:
        os.makedirs(tmp_path / "ro")
        os.chmod(tmp_path / "ro", 0o555)
        return str(tmp_path / "ro")
    if os.access("/proc/sys", os.W_OK):
        pytest.skip("no directory root cannot write here")
    return "/proc/sys"              # root ignores modes, not a read-only mount


def test_state_and_publish_must_be_writable(tmp_path):
    ro = unwritable_directory(tmp_path)
    server = SERVER + f"state: {{path: {ro}/state}}\npublish: {{root: {ro}/publish}}\n"
    assert refused(make(tmp_path, "- queue: {name: q}\n", server)) == [
        f"gateq.yaml:5: state: attribute 'path': '{ro}/state' cannot be created: "
        f"'{ro}' is not writable",
        f"gateq.yaml:6: publish: attribute 'root': '{ro}/publish' cannot be created: "
        f"'{ro}' is not writable"]
    write(tmp_path, "gateq.yaml", SERVER + f"state: {{path: {ro}}}\n")
    assert refused(tmp_path) == [f"gateq.yaml:5: state: attribute 'path': '{ro}' is not writable"]


def test_commands_that_leave_the_state_to_its_store_may_skip_the_place_checks(tmp_path):
    """The state store reports a state directory that is a file or read-only
    for the commands using it (exit status 3); the configuration is fine."""
    config = make(tmp_path, "- queue: {name: q}\n", SERVER + "state: {path: gateq.yaml}\n")
    assert load_config(config, check_places=False).state_dir == os.path.join(config, "gateq.yaml")
    with pytest.raises(ConfigError):
        load_config(config)
    write(tmp_path, "gateq.yaml", SERVER + "state: {path: repos/state}\n")
    with pytest.raises(ConfigError):          # where it is, against the others, is always checked
        load_config(config, check_places=False)


def test_state_and_publish_may_be_created_later(tmp_path):
    accepted(make(tmp_path, "- queue: {name: q}\n", SERVER + "state: {path: a/b/c}\n"))


# -- 4. a configuration holds objects ------------------------------------------

def test_no_layouts_folder(tmp_path):
    assert refused(make(tmp_path, layout=None)) == [
        "gateq.yaml:1: no layouts/ folder: pipelines, queues, jobs and projects are read "
        "from layouts/*.yaml next to this file"]


def test_no_objects_at_all(tmp_path):
    config = make(tmp_path, "# nothing yet\n")
    write(config, "layouts/empty.yml", "")
    assert refused(config) == [
        "gateq.yaml:1: layouts/ defines no objects: pipelines, queues, jobs and projects are "
        "read from layouts/*.yaml next to this file"]
    write(config, "layouts/gate.yaml.orig", "- queue: {name: q}\n")
    assert refused(config)[0].endswith(" next to this file (not read: layouts/gate.yaml.orig)")


def test_odd_file_names_still_give_one_line_each(tmp_path):
    config = make(tmp_path, "- queue: {name: q}\n")
    write(config, "layouts/two\nlines.yaml", "- queue: {name: q}\n")
    write(config, "layouts/two\nlines.txt", "")
    assert refused(config) == [
        "layouts/two\\nlines.yaml:1: queue 'q': duplicate name, first defined at layouts/main.yaml:1"]
    with pytest.raises(ConfigError) as refusal:
        load_config(config)
    assert refusal.value.warnings == ("layouts/two\\nlines.txt: skipped: not a .yaml or .yml file",)


def test_skipped_layout_files_are_named_in_warnings(tmp_path):
    config = make(tmp_path, "- queue: {name: q}\n")
    write(config, "layouts/notes.txt", "- queue: {name: notes}\n")
    write(config, "layouts/main.yaml~", "")
    os.makedirs(os.path.join(config, "layouts", "old.yaml"))
    os.symlink("nowhere.yaml", os.path.join(config, "layouts", "gone.yaml"))
    os.mkfifo(os.path.join(config, "layouts", "pipe.yaml"))
    assert load_config(config).warnings == (
        "layouts/gone.yaml: skipped: a broken symbolic link",
        "layouts/main.yaml~: skipped: not a .yaml or .yml file",
        "layouts/notes.txt: skipped: not a .yaml or .yml file",
        "layouts/old.yaml: skipped: a directory (layouts/ is not read recursively)",
        "layouts/pipe.yaml: skipped: not a regular file",
    )
    os.symlink(os.path.join(config, "layouts", "main.yaml"), os.path.join(config, "layouts", "z.yml"))
    assert refused(config) == [   # z.yml, a link to main.yaml, is read
        "layouts/z.yml:1: queue 'q': duplicate name, first defined at layouts/main.yaml:1"]
    with pytest.raises(ConfigError) as refusal:
        load_config(config)
    assert len(refusal.value.warnings) == 5       # the lead may print them with the errors


# -- build nodes (gateq.yaml nodes:, a job's nodeset) -------------------------

NODE = """\
  - name: {name}
    host: 127.0.0.1
    user: gateq
    sshkey: id_ed25519
{extra}    labels: [fedora-40, x86_64]
"""


def with_nodes(tmp_path, *nodes: tuple[str, str], job_label: str = "fedora-40") -> str:
    """A configuration whose gateq.yaml has the nodes (name, extra lines)
    from line 6 on, each of them 5 lines plus its extra ones."""
    layout = LAYOUT + f"- job: {{name: on-node, run: jobs/unit.sh, nodeset: {{label: {job_label}}}}}\n"
    server = SERVER + "nodes:\n" + "".join(NODE.format(name=n, extra=e) for n, e in nodes)
    config = make(tmp_path, layout, server)
    write(config, "id_ed25519", "not read by validate\n")
    write(config, "known_hosts", "")
    return config


KNOWN = "    known-hosts: known_hosts\n"


def test_nodes_and_a_nodeset_are_read_into_the_config(tmp_path):
    config = load_config(with_nodes(tmp_path, ("builder1", KNOWN + "    slots: 4\n")))
    node, = config.nodes
    assert (node.name, node.host, node.port, node.user, node.slots, node.labels) == (
        "builder1", "127.0.0.1", 22, "gateq", 4, ("fedora-40", "x86_64"))
    assert node.known_hosts == os.path.join(tmp_path, "known_hosts")
    assert config.layout.jobs["on-node"].nodeset.label == "fedora-40"
    assert config.layout.jobs["unit"].nodeset is None


def test_a_node_without_known_hosts_is_refused(tmp_path):
    assert refused(with_nodes(tmp_path, ("builder1", ""))) == [
        "gateq.yaml:6: node 'builder1': missing required attribute 'known-hosts'"]


def test_a_node_whose_known_hosts_file_is_missing_is_refused(tmp_path):
    assert refused(with_nodes(tmp_path, ("builder1", "    known-hosts: nowhere\n"))) == [
        "gateq.yaml:10: node 'builder1': attribute 'known-hosts': 'nowhere' is not a readable file"]


@pytest.mark.parametrize("slots", ["0", "-2", "many", "2.5"])
def test_bad_slots_are_refused(tmp_path, slots):
    lines = refused(with_nodes(tmp_path, ("builder1", KNOWN + f"    slots: {slots}\n")))
    assert len(lines) == 1 and lines[0].startswith(
        "gateq.yaml:11: node 'builder1': attribute 'slots': expected an integer >= 1, got "), lines


def test_two_nodes_of_one_name_are_refused(tmp_path):
    assert refused(with_nodes(tmp_path, ("builder1", KNOWN), ("builder1", KNOWN))) == [
        "gateq.yaml:12: node 'builder1': attribute 'name': also the name of node 1 (names are unique)"]


def test_a_nodeset_with_a_label_no_node_has_is_refused(tmp_path):
    assert refused(with_nodes(tmp_path, ("builder1", KNOWN), job_label="fedora-41")) == [
        "layouts/main.yaml:11: job 'on-node': unknown label 'fedora-41' in nodeset "
        "(no node in gateq.yaml has it)"]


def test_a_nodeset_without_nodes_is_refused(tmp_path):
    layout = LAYOUT + "- job: {name: on-node, run: jobs/unit.sh, nodeset: {label: fedora-40}}\n"
    assert refused(make(tmp_path, layout)) == [
        "layouts/main.yaml:11: job 'on-node': unknown label 'fedora-40' in nodeset "
        "(no node in gateq.yaml has it)"]
