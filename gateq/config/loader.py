"""Read a configuration directory into a Config, or report every error in it.

gateq.yaml (connections, state, executor, publish, logs, checkpoint, web, zookeeper, nodes) and
the layout files under layouts/ are read with line numbers, checked against
the schemas, then the rules between objects (duplicates, job dependencies,
nothing landing untested, each project's repository and default branch) are
checked; objects are built only when nothing is wrong, so a Config is
always complete and valid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from voluptuous import MultipleInvalid, Schema

from . import schema
from .errors import ConfigError, Errors, LineDict, LineList, line_at, one_line, quote
from ..drivers import registry
from .model import (NOOP, Config, GitConnection, Job, Layout, LogRetention, Manager, NodeSettings,
                    Nodeset, Pipeline, Project, QueueSettings, RemoteConnection, Reporter, Repository, Requirement,
                    Trigger, WebSettings, WebToken, Window, ZooKeeperSettings)
from .project_repos import repository_problem
from .reader import UNREADABLE, read_yaml

__all__ = ["load_config", "ConfigError"]

CONFIG_FILE = "gateq.yaml"
LAYOUT_DIR = "layouts"
KINDS = ("pipeline", "queue", "repository", "job", "project")
WHERE_OBJECTS_ARE = ("pipelines, queues, jobs and projects are read from "
                     f"{LAYOUT_DIR}/*.yaml next to this file")


@dataclass
class Item:
    """One `- kind: {...}` entry of a layout file, before and after validation."""
    kind: str
    file: str               # as shown in errors: relative to the configuration directory
    line: int               # of the `- kind:` key
    body: object            # as read, with line numbers
    data: dict | None = None    # as the schema completed it; None while invalid
    duplicate: bool = False

    @property
    def name(self) -> str | None:
        name = self.body.get("name") if isinstance(self.body, dict) else None
        return name if isinstance(name, str) and name else None

    @property
    def label(self) -> str:
        return f"{self.kind} {quote(self.name)}" if self.name else self.kind

    def line_of(self, path: list) -> int:
        return line_at(self.body, path, self.line)

    def error(self, errors: Errors, path: list, message: str) -> None:
        errors.add(self.file, self.line_of(path), f"{self.label}: {message}")


def load_config(path: str, check_places: bool = True) -> Config:
    """The configuration in `path` (gateq.yaml, or the directory holding it).

    Raises ConfigError listing every problem as `FILE:LINE: message`, with
    FILE relative to the configuration directory. check_places=False leaves
    out whether the state directory and the publish root are writable
    directories (how they sit against each other and the connection roots
    is always checked): commands that only read them, or whose state store
    reports such problems itself, need not be refused here.
    """
    config_file = os.path.join(path, CONFIG_FILE) if os.path.isdir(path) else path
    config_dir = os.path.dirname(os.path.abspath(config_file))
    errors = Errors()
    if not os.path.isfile(config_file):
        raise ConfigError([one_line(f"{config_file}:1: no such configuration file")])
    shown = os.path.basename(config_file)
    raw = read_yaml(config_file, shown, errors)
    server = None if raw is UNREADABLE else validate_server(raw, shown, config_dir, check_places,
                                                            errors)
    items, warnings = read_layouts(config_dir, shown, errors)
    names = collect_names(items, connection_names(raw), connection_drivers(raw), node_labels(raw),
                          errors)
    validate_items(items, names, config_dir, errors)
    check_job_graph(items, names, errors)
    check_untested_landings(items, errors)
    check_repositories(items, connection_roots(raw, config_dir), config_dir, errors)
    if errors:
        raise ConfigError(errors.lines(), warnings)
    return build_config(config_file, server, build_layout(items, names), warnings)


# -- reading and validating ----------------------------------------------

def validate_server(raw: object, shown: str, config_dir: str, check_places: bool,
                    errors: Errors) -> dict | None:
    try:
        return Schema(schema.server_schema(config_dir, check_places))({} if raw is None else raw)
    except MultipleInvalid as exc:
        for error in exc.errors:
            path = schema.plain_path(error)
            label, rest = server_label(path, raw)
            message = schema.describe(error, rest)
            errors.add(shown, line_at(raw, path, 1), f"{label}: {message}" if label else message)
        return None


def server_label(path: list, raw: object = None) -> tuple[str, list]:
    """Errors in gateq.yaml name the connection, node or section they are in."""
    if len(path) >= 2 and path[0] == "connections":
        return f"connection {quote(path[1])}", path[2:]
    if len(path) >= 3 and path[0] == "nodes" and isinstance(path[1], int):
        node = raw["nodes"][path[1]]
        named = isinstance(node, dict) and isinstance(node.get("name"), str)
        return (f"node {quote(node['name'])}" if named else f"node {path[1] + 1}"), path[2:]
    if len(path) >= 2:
        return str(path[0]), path[1:]
    return "", path


def connection_names(raw: object) -> tuple[str, ...] | None:
    """Connections named in gateq.yaml, even invalid ones, so that a bad
    connection does not also make every reference to it an error; None
    (any name goes) when gateq.yaml could not be parsed at all."""
    if raw is UNREADABLE:
        return None
    connections = raw.get("connections") if isinstance(raw, dict) else None
    if not isinstance(connections, dict):
        return ()
    return tuple(name for name in connections if isinstance(name, str))


def node_labels(raw: object) -> frozenset[str] | None:
    """Labels of the nodes in gateq.yaml, even of invalid nodes, so that a
    bad node does not also make every nodeset naming its label an error;
    None (any label goes) when gateq.yaml could not be parsed at all."""
    if raw is UNREADABLE:
        return None
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    return frozenset(label for node in (nodes if isinstance(nodes, list) else ())
                     if isinstance(node, dict) and isinstance(node.get("labels"), list)
                     for label in node["labels"] if isinstance(label, str))


def connection_drivers(raw: object) -> dict[str, str]:
    """The driver each connection names, where it names one, so that a
    pipeline's parts for it are checked with that driver's schemas."""
    connections = raw.get("connections") if isinstance(raw, dict) else None
    return {name: c["driver"] for name, c in (connections.items() if isinstance(connections, dict)
                                              else ()) if isinstance(c, dict)
            and isinstance(c.get("driver"), str) and c["driver"] in registry.DRIVERS}


def connection_roots(raw: object, config_dir: str) -> dict[str, str]:
    """Roots of the git connections valid on their own, so that a mistake
    elsewhere in gateq.yaml does not hide the projects' repository errors.
    (A remote connection's repositories are mirrors, made at start.)"""
    connections = raw.get("connections") if isinstance(raw, dict) else None
    check = Schema(schema.connection_schema(config_dir))
    roots = {}
    for name, connection in (connections.items() if isinstance(connections, dict) else ()):
        try:
            checked = check(connection)
        except MultipleInvalid:
            continue
        if "root" in checked:
            roots[name] = checked["root"]
    return roots


def read_layouts(config_dir: str, shown: str, errors: Errors) -> tuple[list[Item], tuple[str, ...]]:
    """Items of every layouts/*.yaml and *.yml file, files sorted by name,
    and a warning for each other entry of layouts/ (it is not read).

    A configuration without objects is an error, unless a layout file
    already has one (it may hold the objects once fixed)."""
    layout_dir = os.path.join(config_dir, LAYOUT_DIR)
    if not os.path.isdir(layout_dir):
        errors.add(shown, 1, f"no {LAYOUT_DIR}/ folder: {WHERE_OBJECTS_ARE}")
        return [], ()
    try:
        entries = sorted(os.listdir(layout_dir))
    except OSError as exc:
        errors.add(shown, 1, f"cannot read {LAYOUT_DIR}/: {exc.strerror}")
        return [], ()
    items: list[Item] = []
    not_read: dict[str, str] = {}       # file: why
    found_before = len(errors)
    for name in entries:
        path, file = os.path.join(layout_dir, name), f"{LAYOUT_DIR}/{name}"
        why = skipped(path, name)
        if why:
            not_read[file] = why
            continue
        document = read_yaml(path, file, errors)
        if document is not UNREADABLE:
            items.extend(layout_items(document, file, errors))
    if not items and len(errors) == found_before:
        hint = f" (not read: {', '.join(not_read)})" if 0 < len(not_read) <= 3 else \
            f" ({len(not_read)} entries not read)" if not_read else ""
        errors.add(shown, 1, f"{LAYOUT_DIR}/ defines no objects: {WHERE_OBJECTS_ARE}{hint}")
    return items, tuple(one_line(f"{file}: skipped: {why}") for file, why in not_read.items())


def skipped(path: str, name: str) -> str | None:
    """Why layouts/NAME is not read, or None when it is a layout file."""
    if os.path.islink(path) and not os.path.exists(path):
        return "a broken symbolic link"
    if os.path.isdir(path):
        return f"a directory ({LAYOUT_DIR}/ is not read recursively)"
    if not name.endswith((".yaml", ".yml")):
        return "not a .yaml or .yml file"
    if not os.path.isfile(path):
        return "not a regular file"
    return None


def layout_items(document: object, file: str, errors: Errors) -> list[Item]:
    if document is None:
        return []
    if not isinstance(document, LineList):
        errors.add(file, 1, "expected a list of objects such as '- job: {...}'")
        return []
    items = []
    for entry, line in zip(document, document.item_lines):
        if not isinstance(entry, LineDict) or len(entry) != 1:
            errors.add(file, line, "expected an object with one key naming its kind, such as '- job:'")
            continue
        (kind, body), = entry.items()
        if kind not in KINDS:
            errors.add(file, line, f"unknown object kind {quote(kind)} (expected one of: {', '.join(KINDS)})")
            continue
        items.append(Item(kind, file, entry.key_lines[kind], body))
    return items


def collect_names(items: list[Item], connections: tuple[str, ...] | None,
                  drivers: dict[str, str], labels: frozenset[str] | None,
                  errors: Errors) -> schema.Names:
    """Names defined by each kind of object; a second definition is an error."""
    first: dict[tuple[str, str], Item] = {}
    for item in items:
        if item.name is None:
            continue
        earlier = first.setdefault((item.kind, item.name), item)
        if earlier is not item:
            item.duplicate = True
            item.error(errors, ["name"], "duplicate name, first defined at "
                       f"{earlier.file}:{earlier.line_of(['name'])}")

    def defined(kind: str) -> list[str]:
        return [name for k, name in first if k == kind]
    return schema.Names(
        connections=connections,
        drivers=drivers,
        pipelines=tuple(defined("pipeline")),
        jobs=frozenset(defined("job")) | {NOOP.name},
        queues=frozenset(defined("queue")),
        repositories=frozenset(defined("repository")),
        projects=frozenset(defined("project")),
        labels=labels,
    )


def validate_items(items: list[Item], names: schema.Names, config_dir: str, errors: Errors) -> None:
    schemas = {kind: Schema(s) for kind, s in schema.layout_schemas(names, config_dir).items()}
    for item in items:
        try:
            item.data = schemas[item.kind](item.body)
        except MultipleInvalid as exc:
            for error in exc.errors:
                path = schema.plain_path(error)
                item.error(errors, path, schema.describe(error, path))


# -- rules between objects ------------------------------------------------

def valid(items: list[Item], kind: str) -> dict[str, Item]:
    return {i.name: i for i in items if i.kind == kind and i.data is not None and not i.duplicate}


def check_job_graph(items: list[Item], names: schema.Names, errors: Errors) -> None:
    """Job dependencies form no cycle, and a project pipeline runs what its
    jobs depend on (otherwise those jobs could never start)."""
    jobs = valid(items, "job")
    for cycle in dependency_cycles({name: job.data["dependencies"] for name, job in jobs.items()}):
        first = jobs[cycle[0]]
        first.error(errors, ["dependencies", first.data["dependencies"].index(cycle[1])],
                    "dependency cycle " + " -> ".join(cycle))
    for project in valid(items, "project").values():
        for pipeline in names.pipelines:
            if pipeline in project.data:
                check_pipeline_jobs(project, pipeline, project.data[pipeline]["jobs"], jobs, errors)


def check_untested_landings(items: list[Item], errors: Errors) -> None:
    """A dependent pipeline lands what passes: a project listing no jobs in
    it would land its changes untested. `noop` says so on purpose."""
    dependent = [name for name, p in valid(items, "pipeline").items()
                 if p.data["manager"] is Manager.DEPENDENT]
    for project in valid(items, "project").values():
        for pipeline in dependent:
            if pipeline in project.data and not project.data[pipeline]["jobs"]:
                errors.add(project.file, project.line_of([pipeline, "jobs"]),
                           f"project {quote(project.name)} pipeline {quote(pipeline)}: lists no "
                           "jobs, so its changes would land untested (list the built-in job "
                           f"'{NOOP.name}' to land them without testing)")


def check_repositories(items: list[Item], roots: dict[str, str], config_dir: str,
                       errors: Errors) -> None:
    """Each project's repository exists in its connection, with its default branch."""
    for project in valid(items, "project").values():
        connection = project.data["connection"]
        if connection in roots:
            problem = repository_problem(GitConnection(connection, roots[connection]),
                                         project.name, project.data["default-branch"], config_dir)
            if problem:
                project.error(errors, [problem[0]], problem[1])


def check_pipeline_jobs(project: Item, pipeline: str, run: list[str], jobs: dict[str, Item],
                        errors: Errors) -> None:
    for index, name in enumerate(run):
        for dependency in jobs[name].data["dependencies"] if name in jobs else ():
            if dependency not in run:
                errors.add(project.file, project.line_of([pipeline, "jobs", index]),
                           f"project {quote(project.name)} pipeline {quote(pipeline)}: job "
                           f"{quote(name)} depends on {quote(dependency)} which this pipeline "
                           "does not run")


def dependency_cycles(dependencies: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle once, as the jobs in order ending where it started.

    A depth-first search finds one cycle per edge back to a job still on
    the path; dependencies on jobs not in `dependencies` are ignored.
    """
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(job: str) -> None:
        path.append(job)
        for dependency in dependencies[job]:
            if dependency in path:
                cycles.append(path[path.index(dependency):] + [dependency])
            elif dependency in dependencies and dependency not in done:
                visit(dependency)
        path.pop()
        done.add(job)

    for job in dependencies:
        if job not in done:
            visit(job)
    return cycles


# -- building -------------------------------------------------------------

def build_config(config_file: str, server: dict, layout: Layout, warnings: tuple[str, ...]) -> Config:
    return Config(
        config_dir=os.path.dirname(os.path.abspath(config_file)),
        path=os.path.abspath(config_file),
        connections={name: build_connection(name, c, server["state"]["path"])
                     for name, c in server["connections"].items()},
        state_dir=server["state"]["path"],
        slots=server["executor"]["slots"],
        layout=layout,
        publish_root=server["publish"]["root"],
        sandbox=server["executor"]["sandbox"],
        logs=LogRetention(keep_days=server["logs"]["keep-days"],
                          keep_count=server["logs"]["keep-count"],
                          max_output=server["logs"]["max-output"]),
        checkpoint_interval=server["checkpoint"]["interval"],
        min_free=server["state"]["min-free"],
        warnings=warnings,
        web=build_web(server["web"]),
        zookeeper=build_zookeeper(server["zookeeper"]),
        nodes=tuple(build_node(n) for n in server["nodes"]),
    )


def build_node(n: dict) -> NodeSettings:
    return NodeSettings(name=n["name"], host=n["host"], user=n["user"], sshkey=n["sshkey"],
                        known_hosts=n["known-hosts"], labels=tuple(n["labels"]), port=n["port"],
                        slots=n["slots"], connect_timeout=n["connect-timeout"],
                        keepalive=n["keepalive"])


def build_connection(name: str, c: dict, state_dir: str) -> GitConnection | RemoteConnection:
    if registry.DRIVERS[c["driver"]].local:
        return GitConnection(name, c["root"])
    return RemoteConnection(name, c["driver"], registry.mirror_root(name, c, state_dir), dict(c),
                            c.get("web-url"))


def build_web(w: dict) -> WebSettings:
    return WebSettings(listen=w["listen"], allow_remote=w["allow-remote"], max_body=w["max-body"],
                       tokens=tuple(WebToken(t["name"], t["sha256"], frozenset(t["actions"]))
                                    for t in w["tokens"]))


def build_zookeeper(z: dict | None) -> ZooKeeperSettings | None:
    if z is None:
        return None
    tls = z["tls"]
    return ZooKeeperSettings(z["hosts"], z["session-timeout"],
                             (tls["cert"], tls["key"], tls["ca"]) if tls else None,
                             z["executors"], z["mergers"], z["git-listen"], z["log-listen"])


def build_layout(items: list[Item], names: schema.Names) -> Layout:
    def data(kind: str) -> list[dict]:
        return [item.data for item in items if item.kind == kind]
    return Layout(
        pipelines={p["name"]: build_pipeline(p) for p in data("pipeline")},
        jobs={**{j["name"]: build_job(j) for j in data("job")}, NOOP.name: NOOP},
        projects={p["name"]: build_project(p, names.pipelines) for p in data("project")},
        queues=frozenset(q["name"] for q in data("queue")),
        queue_settings={q["name"]: QueueSettings(q["name"], q["allow-circular-dependencies"])
                        for q in data("queue")},
        repositories={r["name"]: Repository(r["name"], r["type"], r["keep"])
                      for r in data("repository")},
    )


def build_pipeline(p: dict) -> Pipeline:
    return Pipeline(
        name=p["name"],
        manager=p["manager"],
        triggers=tuple(Trigger(connection, t["events"][0], tuple(t["events"]), t["branch"],
                               tuple(t["approvals"]), t["comment"])
                       for connection, entries in p["trigger"].items() for t in entries),
        merge_on_success=any(s["merge"] or s["submit"] for s in p["success"].values()),
        window=Window(
            initial=p["window"], floor=p["window-floor"], ceiling=p["window-ceiling"],
            increase_type=p["window-increase-type"], increase_factor=p["window-increase-factor"],
            decrease_type=p["window-decrease-type"], decrease_factor=p["window-decrease-factor"]),
        fail_fast=p["fail-fast"],
        merge_in_window_only=p["merge-in-window-only"],
        batch_size=p["batch-size"],
        batch_kind=p["batch-kind"],
        excuse_base_failures=p["excuse-base-failures"],
        requirements=tuple(Requirement(c, tuple(r["approvals"]), r["open"], r["current-patchset"],
                                       r["wip"]) for c, r in p["require"].items()),
        start=build_reporters(p["start"]),
        success=build_reporters(p["success"]),
        failure=build_reporters(p["failure"]),
    )


def build_reporters(reporters: dict) -> tuple[Reporter, ...]:
    return tuple(Reporter(c, tuple(r["labels"]), r["submit"], r["merge"])
                 for c, r in reporters.items())


def build_job(j: dict) -> Job:
    return Job(name=j["name"], run=j["run"], timeout=j["timeout"], voting=j["voting"],
               dependencies=tuple(j["dependencies"]), vars=dict(j["vars"]),
               export=j["export"], requires=tuple(j["requires"]), attempts=j["attempts"],
               required_projects=tuple(j["required-projects"]),
               nodeset=Nodeset(j["nodeset"]["label"]) if j["nodeset"] else None)


def build_project(p: dict, pipelines: tuple[str, ...]) -> Project:
    return Project(name=p["name"], connection=p["connection"], queue=p["queue"],
                   default_branch=p["default-branch"], merge_mode=p["merge-mode"],
                   pipelines={name: tuple(p[name]["jobs"]) for name in pipelines if name in p})
