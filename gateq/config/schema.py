"""Voluptuous schemas for gateq.yaml and the layout objects, with every default.

A schema both checks and completes an object: what it returns holds every
attribute, enums as enums and paths as absolute paths, so the loader only
builds model objects. Names that refer to other objects are checked against
`Names`, everything defined anywhere in the configuration.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from voluptuous import (All, Invalid, Marker, MultipleInvalid, Optional, Required,
                        RequiredFieldInvalid, Schema)

from .. import sandbox
from .model import Manager, MergeMode, SandboxMode

TRIGGER_EVENTS = ("proposed", "approved")
DRIVERS = ("git",)
REPOSITORY_TYPES = ("rpm", "files")
PROJECT_ATTRIBUTES = ("name", "queue", "connection", "default-branch", "merge-mode")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Unknown(Invalid):
    """A reference to a name nothing defines; its message says it all."""


@dataclass(frozen=True)
class Names:
    """What the configuration defines, for checking references to it."""
    connections: tuple[str, ...] | None = ()   # None: unknown, gateq.yaml is unreadable
    pipelines: tuple[str, ...] = ()      # in definition order
    jobs: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    repositories: frozenset[str] = frozenset()


# -- validators: small functions with messages a user understands -----------

def text(value):
    if not isinstance(value, str) or not value:
        raise Invalid(f"expected a non-empty string, got {value!r}")
    return value


def flag(value):
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {value!r}")
    return value


def count(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"expected an integer >= 1, got {value!r}")
    return value


def env_value(value):
    """Job vars become environment variables; YAML booleans read as shells expect."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Invalid(f"expected a string, number or boolean, got {value!r}")


def env_name(value):
    if not isinstance(value, str) or not ENV_NAME.match(value):
        raise Invalid(f"not a valid environment variable name: {value!r}")
    return value


def choice(values, convert=None):
    """One of `values` (strings), returned through `convert` (an enum class)."""
    def check(value):
        if not isinstance(value, str) or value not in values:
            raise Invalid(f"expected one of {', '.join(values)}, got {value!r}")
        return convert(value) if convert else value
    return check


def enum_choice(enum):
    return choice(tuple(member.value for member in enum), enum)


def maybe(validator):
    """None, or a value `validator` accepts."""
    return lambda value: None if value is None else validator(value)


def known(kind: str, names, where: str | None = None):
    """A name that some `kind` object defines (any name, if `names` is None)."""
    def check(value):
        text(value)
        if names is not None and value not in names:
            raise Unknown(f"unknown {kind} '{value}'" + (f" in {where}" if where else ""))
        return value
    return check


def each(item):
    """A list of `item`s, every error of every item reported: voluptuous's
    own [item] stops at the first item with an error inside it."""
    validate = Schema(item)

    def check(values):
        if not isinstance(values, list):
            raise Invalid("expected a list")
        checked, errors = [], []
        for index, value in enumerate(values):
            try:
                checked.append(validate(value))
            except MultipleInvalid as exc:
                for error in exc.errors:
                    error.prepend([index])
                    errors.append(error)
        if errors:
            raise MultipleInvalid(errors)
        return checked
    return check


def unique(item):
    """A list of `item`s in which no value appears twice."""
    def check(values):
        errors = [Invalid(f"'{value}' is listed twice", path=[index])
                  for index, value in enumerate(values) if value in values[:index]]
        if errors:
            raise MultipleInvalid(errors)
        return values
    return All(each(item), check)


def nonempty(what: str):
    def check(mapping):
        if not mapping:
            raise Invalid(f"at least one {what} is required")
        return mapping
    return check


def in_dir(config_dir: str, must_exist: bool = False):
    """A path relative to the configuration directory, made absolute."""
    def check(value):
        path = os.path.normpath(os.path.join(config_dir, text(value)))
        if must_exist and not os.path.isdir(path):
            raise Invalid(f"directory '{value}' does not exist")
        return path
    return check


def script(config_dir: str):
    """An executable file relative to the configuration directory, made absolute."""
    def check(value):
        path = os.path.normpath(os.path.join(config_dir, text(value)))
        if not os.path.exists(path):
            raise Invalid(f"script '{value}' does not exist")
        if not os.path.isfile(path):
            raise Invalid(f"script '{value}' is not a file")
        if not os.access(path, os.X_OK):
            raise Invalid(f"script '{value}' is not executable")
        return path
    return check


def bwrap_works(mode):
    """`sandbox: bwrap` promises sandboxed builds: check it can keep the promise here."""
    if mode is SandboxMode.BWRAP:
        try:
            sandbox.probe()
        except sandbox.Unavailable as exc:
            raise Invalid(f"{exc}; set auto or none to run builds without it")
    return mode


# -- gateq.yaml -----------------------------------------------------------

def server_schema(config_dir: str) -> dict:
    connection = {
        Required("driver"): choice(DRIVERS),
        Required("root"): in_dir(config_dir, must_exist=True),
    }
    return {
        Required("connections"): All({text: connection}, nonempty("connection")),
        Optional("state", default={}): {
            Optional("path", default="state"): in_dir(config_dir),
        },
        Optional("executor", default={}): {
            Optional("slots", default=os.cpu_count() or 1): count,
            Optional("sandbox", default="auto"): All(enum_choice(SandboxMode), bwrap_works),
        },
        Optional("publish", default={}): {
            Optional("root", default="publish"): in_dir(config_dir),
        },
    }


# -- layout objects -------------------------------------------------------

def pipeline_schema(names: Names) -> object:
    connection = known("connection", names.connections)
    return All({
        Required("name"): All(text, not_reserved),
        Required("manager"): enum_choice(Manager),
        Optional("trigger", default={}): {
            connection: each({Required("event"): choice(TRIGGER_EVENTS)}),
        },
        Optional("success", default={}): {
            connection: {Optional("merge", default=False): flag},
        },
        Optional("window", default=20): count,
        Optional("window-floor", default=3): count,
        Optional("window-ceiling", default=None): maybe(count),
        Optional("window-increase-type", default="linear"): choice(("linear", "exponential")),
        Optional("window-increase-factor", default=1): count,
        Optional("window-decrease-type", default="exponential"):
            choice(("linear", "exponential", "none")),
        Optional("window-decrease-factor", default=2): count,
    }, pipeline_rules)


def not_reserved(name):
    """Projects list their jobs under pipeline names, next to their own attributes."""
    if name in PROJECT_ATTRIBUTES:
        raise Invalid(f"'{name}' is a project attribute and cannot name a pipeline")
    return name


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
    if p["manager"] is not Manager.DEPENDENT and any(s["merge"] for s in p["success"].values()):
        errors.append(Invalid("merge needs manager 'dependent'", path=["success"]))
    if errors:
        raise MultipleInvalid(errors)
    return p


QUEUE = {Required("name"): text}

REPOSITORY = {
    Required("name"): text,
    Optional("type", default="rpm"): choice(REPOSITORY_TYPES),
    Optional("keep", default=10): count,
}


def job_schema(names: Names, config_dir: str) -> dict:
    return {
        Required("name"): text,
        Required("run"): script(config_dir),
        Optional("timeout", default=3600): count,
        Optional("voting", default=True): flag,
        Optional("dependencies", default=[]): unique(known("job", names.jobs, "dependencies")),
        Optional("vars", default={}): {env_name: env_value},
        Optional("export", default=None): maybe(known("repository", names.repositories, "export")),
        Optional("requires", default=[]):
            unique(known("repository", names.repositories, "requires")),
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
        Required("name"): text,
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
        return f"unknown attribute '{attr}'"
    if isinstance(error, RequiredFieldInvalid):
        return f"missing required attribute '{attr}'"
    return f"attribute '{attr}': {error.msg}" if attr else error.msg


def plain_path(error: Invalid) -> list:
    """The error's path with voluptuous markers (Required('x')) replaced by keys."""
    return [step.schema if isinstance(step, Marker) else step for step in error.path]
