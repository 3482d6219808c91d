"""Voluptuous schemas for gateq.yaml and the layout objects, with every default.

A schema both checks and completes an object: what it returns holds every
attribute, enums as enums, paths as absolute paths and sizes as bytes, so
the loader only builds model objects. Names that refer to other objects are
checked against `Names`, everything defined anywhere in the configuration;
the validators of single values are in values.py.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Mapping

from voluptuous import (All, Invalid, Marker, MultipleInvalid, Optional, Required,
                        RequiredFieldInvalid, Schema)

from .. import sandbox
from ..drivers import registry
from .errors import quote
from .model import (NOOP, AdminAction, BatchKind, Manager, MergeMode, SandboxMode, WindowDecrease,
                    WindowIncrease)
from .values import (Unknown, choice, count, days, each, enum_choice, env_vars, flag, in_dir,
                     known, listen_address, maybe, name, named, named_by, nonempty, project_name,
                     script, sha256_hex, shown_path, size, text, unique, writable_dir)

DRIVERS = tuple(registry.DRIVERS)
REPOSITORY_TYPES = ("rpm", "files")
PROJECT_ATTRIBUTES = ("name", "queue", "connection", "default-branch", "merge-mode")


@dataclass(frozen=True)
class Names:
    """What the configuration defines, for checking references to it."""
    connections: tuple[str, ...] | None = ()   # None: unknown, gateq.yaml is unreadable
    drivers: Mapping[str, str] = field(default_factory=dict)   # connection: its driver, where known
    pipelines: tuple[str, ...] = ()      # in definition order
    jobs: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    repositories: frozenset[str] = frozenset()
    projects: frozenset[str] = frozenset()
    labels: frozenset[str] | None = frozenset()   # the nodes' labels; None: unknown


def bwrap_works(mode):
    """`sandbox: bwrap` promises sandboxed builds: check it can keep the promise here."""
    if mode is SandboxMode.BWRAP:
        try:
            sandbox.probe()
        except sandbox.Unavailable as exc:
            raise Invalid(f"{exc}; set auto or none to run builds without it")
    return mode


# -- gateq.yaml -----------------------------------------------------------

def connection_schema(config_dir: str):
    """One connection: its `driver`, then that driver's attributes."""
    return registry.connection_schema(config_dir)


def server_schema(config_dir: str, check_places: bool = True) -> object:
    """With check_places, the state directory and the publish root must be
    writable directories, or creatable; without, that is left to the state
    store, which reports it for the commands that use them."""
    place = writable_dir(config_dir) if check_places else in_dir(config_dir)
    return All({
        Required("connections"): All(named(name("connection"), connection_schema(config_dir)),
                                     nonempty("connection")),
        Optional("state", default={}): {
            Optional("path", default="state"): place,
            Optional("min-free", default="64M"): size,
        },
        Optional("executor", default={}): {
            Optional("slots", default=os.cpu_count() or 1): count,
            Optional("sandbox", default="auto"): All(enum_choice(SandboxMode), bwrap_works),
        },
        Optional("publish", default={}): {
            Optional("root", default="publish"): place,
        },
        Optional("logs", default={}): {
            Optional("keep-days", default=30): maybe(days),
            Optional("keep-count", default=None): maybe(count),
            Optional("max-output", default="64M"): size,
        },
        Optional("checkpoint", default={}): {
            Optional("interval", default=1000): count,
        },
        Optional("web", default={}): WEB,
        Optional("zookeeper", default=None): maybe(zookeeper_schema(config_dir)),
        Optional("nodes", default=[]): All(each(node_schema(config_dir)), distinct_names("node")),
    }, distinct_places(config_dir))


# -- ZooKeeper, for schedulers on many hosts (gateq/zk, docs/scale-out.md) ----

def zk_hosts(value):
    """host:port[,host:port...], optionally ending in /chroot, as kazoo takes it."""
    hosts, _, chroot = text(value).partition("/")
    for entry in hosts.split(","):
        host, colon, port = entry.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Invalid(f"expected host:port[,host:port...], got {quote(entry.strip())} "
                          f"in {quote(value)}")
    if "/" in value and not chroot.strip("/"):
        raise Invalid(f"the chroot after the hosts is empty in {quote(value)}")
    return value


def seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise Invalid(f"expected a number of seconds > 0 (at most 3600), got {value!r}")
    return float(value)


def readable_file(config_dir: str):
    def check(value):
        path = in_dir(config_dir)(value)
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise Invalid(f"{quote(value)} is not a readable file")
        return path
    return check


def zookeeper_schema(config_dir: str) -> Schema:
    """A validator, not a dict, so that maybe() can call it (null: no ZooKeeper)."""
    return All(Schema({
        Required("hosts"): zk_hosts,
        Optional("session-timeout", default=10): seconds,
        # true: builds run on `gateq executor` processes, which fetch their
        # commits from the active scheduler's git daemon at git-listen
        Optional("executors", default=False): flag,
        # true: merges are made by `gateq merger` processes (with executors:
        # they fetch from the same git daemon)
        Optional("mergers", default=False): flag,
        Optional("git-listen", default="127.0.0.1:0"): listen_address,
        # where a `gateq executor` serves the logs of its builds to `gateq web`
        Optional("log-listen", default="127.0.0.1:0"): listen_address,
        Optional("tls", default=None): maybe(Schema({
            Required("cert"): readable_file(config_dir),
            Required("key"): readable_file(config_dir),
            Required("ca"): readable_file(config_dir),
        })),
    }), mergers_need_executors)


def mergers_need_executors(z: dict) -> dict:
    if z["mergers"] and not z["executors"]:
        raise Invalid("true needs executors: true too (mergers fetch from the git "
                      "daemon the active scheduler runs for executors)", path=["mergers"])
    return z


# -- build nodes, reached over SSH (gateq/nodes, docs/nodes.md) -------------

def port(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise Invalid(f"expected a port number (1-65535), got {value!r}")
    return value


def node_schema(config_dir: str) -> dict:
    """One node. known-hosts is required: a node whose host key is not
    pinned there is refused, never learned."""
    return {
        Required("name"): name("node"),
        Required("host"): text,
        Optional("port", default=22): port,
        Required("user"): text,
        Required("sshkey"): readable_file(config_dir),
        Required("known-hosts"): readable_file(config_dir),
        Optional("slots", default=1): count,
        Required("labels"): All(unique(name("label")), nonempty("label")),
        Optional("connect-timeout", default=10): seconds,
        # how often a node is asked whether it is there, and how long it has to answer
        Optional("keepalive", default=15): seconds,
    }


def distinct_names(kind: str):
    """In a list of named objects, each name once."""
    def check(objects: list) -> list:
        first: dict[str, int] = {}
        errors = [Invalid(f"also the name of {kind} {first[o['name']] + 1} (names are unique)",
                          path=[index, "name"])
                  for index, o in enumerate(objects) if first.setdefault(o["name"], index) != index]
        if errors:
            raise MultipleInvalid(errors)
        return objects
    return check


# -- the web service (gateq/web) ------------------------------------------

WEB_TOKEN = {
    Required("name"): name("token"),
    Required("sha256"): sha256_hex,
    Required("actions"): All(unique(choice(tuple(a.value for a in AdminAction))),
                             lambda names: [AdminAction(n) for n in names]),
}


def web_rules(web: dict) -> dict:
    """Beyond loopback only when asked; token names and hashes are unique."""
    errors = []
    listen = web["listen"]
    if listen and not web["allow-remote"] and not is_loopback(listen[0]):
        errors.append(Invalid(f"{quote(listen[0])} is not a loopback address: set "
                              "web.allow-remote: true to serve other hosts (the admin API "
                              "then travels in clear: put TLS in front)", path=["listen"]))
    for index, token in enumerate(web["tokens"]):
        for key in ("name", "sha256"):
            if any(t[key] == token[key] for t in web["tokens"][:index]):
                errors.append(Invalid(f"token {index + 1}: {key} listed twice",
                                      path=["tokens", index, key]))
    if errors:
        raise MultipleInvalid(errors)
    return web


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False              # a host name: it could resolve anywhere


WEB = All({
    # null: `gateq serve` runs no web service (`gateq web` then listens on 127.0.0.1:8080)
    Optional("listen", default=None): maybe(listen_address),
    Optional("allow-remote", default=False): flag,
    Optional("max-body", default="64K"): size,
    Optional("tokens", default=[]): each(WEB_TOKEN),
}, web_rules)


def distinct_places(config_dir: str):
    """Connection roots, the state directory and the publish root are
    separate trees: the sandbox makes state and publish read-only, the
    collector removes what it does not know under them, and a repository
    found inside either would be both. Checked once the rest is valid."""
    def check(server: dict) -> dict:
        places = [(["connections", c, "root"], f"connections.{c}.root", conn["root"])
                  for c, conn in server["connections"].items() if "root" in conn]
        places += [(["state", "path"], "state.path", server["state"]["path"]),
                   (["publish", "root"], "publish.root", server["publish"]["root"])]
        errors = []
        for index, (path, _, place) in enumerate(places):
            for _, label, other in places[:index]:
                clash = overlap(place, other)
                if clash:
                    where = quote(shown_path(config_dir, place))
                    errors.append(Invalid(
                        f"{where} is the same directory as {label}" if clash == "same" else
                        f"{where} {clash} {label} {quote(shown_path(config_dir, other))}", path=path))
                    break
        if errors:
            raise MultipleInvalid(errors)
        return server
    return check


def overlap(path: str, other: str) -> str | None:
    """How directory `path` sits against `other`, symbolic links resolved."""
    path, other = os.path.realpath(path), os.path.realpath(other)
    if path == other:
        return "same"
    common = os.path.commonpath([path, other])
    return "is inside" if common == other else "holds" if common == path else None


# -- layout objects -------------------------------------------------------

def pipeline_schema(names: Names) -> object:
    connection = known("connection", names.connections)
    return All({
        Required("name"): All(name("pipeline"), not_reserved),
        Required("manager"): enum_choice(Manager),
        Optional("trigger", default={}): per_connection(names, "trigger"),
        Optional("require", default={}): per_connection(names, "require"),
        Optional("start", default={}): per_connection(names, "reporter"),
        Optional("success", default={}): per_connection(names, "reporter"),
        Optional("failure", default={}): per_connection(names, "reporter"),
        Optional("window", default=20): count,
        Optional("window-floor", default=3): count,
        Optional("window-ceiling", default=None): maybe(count),
        Optional("window-increase-type", default="linear"): enum_choice(WindowIncrease),
        Optional("window-increase-factor", default=1): count,
        Optional("window-decrease-type", default="linear"): enum_choice(WindowDecrease),
        Optional("fail-fast", default=True): flag,
        Optional("merge-in-window-only", default=False): flag,
        Optional("batch-size", default=1): count,
        Optional("batch-kind", default="any"): enum_choice(BatchKind),
        Optional("excuse-base-failures", default=False): flag,
        Optional("window-decrease-factor", default=2): count,
    }, pipeline_rules)


PARTS = {"trigger": "triggers", "require": "review requirements", "reporter": "reporters"}


def per_connection(names: Names, part: str):
    """{CONNECTION: ...}, what follows checked by the schema the
    connection's driver has for `part` (gateq/drivers/*/schema.py)."""
    connection = known("connection", names.connections)

    def value_for(key: str):
        driver = names.drivers.get(key)
        if driver not in registry.DRIVERS:
            return None                  # the connection itself is in error
        schema = registry.DRIVERS[driver].layout_part(part)
        if schema is None:
            raise Invalid(f"connection {quote(key)} ({driver} driver) has no {PARTS[part]}")
        return schema
    return named_by(connection, value_for)


def not_reserved(value):
    """Projects list their jobs under pipeline names, next to their own attributes."""
    if value in PROJECT_ATTRIBUTES:
        raise Invalid(f"'{value}' is a project attribute and cannot name a pipeline")
    return value


def not_builtin(value):
    if value == NOOP.name:
        raise Invalid(f"{NOOP.name} is built in (it succeeds without running anything) "
                      "and cannot be defined")
    return value


def pipeline_rules(p: dict) -> dict:
    """Checks between attributes. voluptuous runs them only once the whole
    pipeline is otherwise valid, so they surface after the other errors are fixed."""
    errors = []
    window, floor, ceiling = p["window"], p["window-floor"], p["window-ceiling"]
    if floor > window:
        errors.append(Invalid(f"window {window} is below window-floor {floor}", path=["window"]))
    if ceiling is not None and ceiling < floor:
        errors.append(Invalid(f"window-ceiling {ceiling} is below window-floor {floor}",
                              path=["window-ceiling"]))
    elif ceiling is not None and ceiling < window:
        errors.append(Invalid(f"window-ceiling {ceiling} is below window {window}",
                              path=["window-ceiling"]))
    if p["manager"] is not Manager.DEPENDENT:
        errors += [Invalid(f"{landing(s)} needs manager 'dependent'", path=["success"])
                   for s in p["success"].values() if lands(s)][:1]
        errors += [Invalid(f"{attr} needs manager 'dependent' (an independent pipeline tests "
                           "each change alone, on the branch tips)", path=[attr])
                   for attr, off in (("batch-size", 1), ("excuse-base-failures", False)) if p[attr] != off]
    errors += [Invalid(f"{landing(s)} is only for success: (it lands the change)", path=[when, c])
               for when in ("start", "failure") for c, s in p[when].items() if lands(s)]
    if errors:
        raise MultipleInvalid(errors)
    return p


def lands(reporter: object) -> bool:
    return isinstance(reporter, dict) and bool(reporter.get("merge") or reporter.get("submit"))


def landing(reporter: dict) -> str:
    return "submit" if reporter.get("submit") else "merge"


QUEUE = {
    Required("name"): name("queue"),
    Optional("allow-circular-dependencies", default=False): flag,
}

REPOSITORY = {
    Required("name"): name("repository"),
    Optional("type", default="rpm"): choice(REPOSITORY_TYPES),
    Optional("keep", default=10): count,
}


def job_schema(names: Names, config_dir: str) -> dict:
    return {
        Required("name"): All(name("job"), not_builtin),
        Required("run"): script(config_dir),
        Optional("timeout", default=3600): count,
        Optional("voting", default=True): flag,
        Optional("dependencies", default=[]): unique(known("job", names.jobs, "dependencies")),
        Optional("vars", default={}): env_vars,
        Optional("export", default=None): maybe(known("repository", names.repositories, "export")),
        Optional("requires", default=[]):
            unique(known("repository", names.repositories, "requires")),
        Optional("required-projects", default=[]):
            unique(known("project", names.projects, "required-projects")),
        Optional("attempts", default=1): count,
        # null: it runs here; else on a node of gateq.yaml with that label
        Optional("nodeset", default=None): maybe(Schema({
            Required("label"): known("label", names.labels, "nodeset (no node in gateq.yaml has it)"),
        })),
    }


def project_schema(names: Names) -> dict:
    """Any pipeline name is a project attribute listing the jobs it runs."""
    connection = known("connection", names.connections)
    if names.connections is None:
        connection_key, connection = Optional("connection", default=None), maybe(connection)
    elif len(names.connections) == 1:
        connection_key = Optional("connection", default=names.connections[0])
    else:
        connection_key = Required("connection")
    schema = {
        Required("name"): project_name,
        Optional("queue", default=None): maybe(known("queue", names.queues)),
        connection_key: connection,
        Optional("default-branch", default="main"): text,
        Optional("merge-mode", default="merge"): enum_choice(MergeMode),
    }
    for pipeline in names.pipelines:
        jobs = unique(known("job", names.jobs, f"pipeline '{pipeline}'"))
        schema[Optional(pipeline)] = {Required("jobs"): jobs}
    return schema


def layout_schemas(names: Names, config_dir: str) -> dict:
    """The schema of each object kind a layout file may hold."""
    return {
        "pipeline": pipeline_schema(names),
        "queue": QUEUE,
        "repository": REPOSITORY,
        "job": job_schema(names, config_dir),
        "project": project_schema(names),
    }


def describe(error: Invalid, path: list) -> str:
    """A voluptuous error as a sentence naming the attribute at `path`."""
    attr = ".".join(str(step) for step in path if not isinstance(step, int))
    if isinstance(error, Unknown):
        return error.msg
    if error.msg == "extra keys not allowed":
        return f"unknown attribute {quote(attr)}"
    if isinstance(error, RequiredFieldInvalid):
        return f"missing required attribute {quote(attr)}"
    return f"attribute {quote(attr)}: {error.msg}" if attr else error.msg


def plain_path(error: Invalid) -> list:
    """The error's path with voluptuous markers (Required('x')) replaced by keys."""
    return [step.schema if isinstance(step, Marker) else step for step in error.path]
