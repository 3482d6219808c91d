"""Drivers by name, and the connections `connections:` asks for.

`connection_schema` checks one connection with its driver's schema (a
bad driver name is one error naming the drivers there are);
`layout_part` gives what a pipeline may say about a connection of a
driver (its trigger, require and reporter schemas); `build_connections`
turns the validated entries into Connections. A driver's protocol code is
imported only when a connection of it is built.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Callable, Mapping

from voluptuous import Invalid, MultipleInvalid, RequiredFieldInvalid, Schema

from ..config.errors import quote
from .base import Connection


@dataclass(frozen=True)
class Driver:
    name: str
    schema: str                 # module with schema(config_dir) and layout_parts()
    connection: str             # "module:Class" of its Connection
    links: str | None = None    # module with change_url(web_url, project, change)
    local: bool = True          # its repositories are under `root`; else mirrored

    def load_schema(self, config_dir: str):
        return importlib.import_module(self.schema).schema(config_dir)

    def layout_part(self, part: str):
        """The schema of `part` (trigger, require, reporter) for a
        connection of this driver; None when the driver has no such thing."""
        return importlib.import_module(self.schema).layout_parts().get(part)

    def connection_class(self) -> type[Connection]:
        module, _, cls = self.connection.partition(":")
        return getattr(importlib.import_module(module), cls)


DRIVERS: dict[str, Driver] = {d.name: d for d in (
    Driver("git", "gateq.drivers.git.schema", "gateq.drivers.git.connection:GitDriverConnection"),
    Driver("gerrit", "gateq.drivers.gerrit.schema",
           "gateq.drivers.gerrit.connection:GerritConnection", "gateq.drivers.gerrit.links",
           local=False),
    *(Driver(forge, f"gateq.drivers.{forge}.schema",
             f"gateq.drivers.{forge}.connection:{cls}Connection", f"gateq.drivers.{forge}.links",
             local=False)
      for forge, cls in (("gitea", "Gitea"), ("github", "GitHub"), ("gitlab", "GitLab"))),
)}


def connection_schema(config_dir: str) -> Callable[[object], dict]:
    """A validator of one connection: its `driver`, then its driver's schema."""
    schemas: dict[str, Schema] = {}

    def check(value):
        if not isinstance(value, dict):
            raise Invalid("expected a dictionary")
        driver = value.get("driver")
        if "driver" not in value:
            raise MultipleInvalid([RequiredFieldInvalid("missing required attribute 'driver'",
                                                        path=["driver"])])
        if not isinstance(driver, str) or driver not in DRIVERS:
            raise MultipleInvalid([Invalid(
                f"unknown driver {quote(driver)} (one of {', '.join(DRIVERS)})", path=["driver"])])
        if driver not in schemas:
            schemas[driver] = Schema(DRIVERS[driver].load_schema(config_dir))
        return schemas[driver](value)
    return check


def mirror_root(name: str, settings: Mapping, state_dir: str) -> str:
    """Where gateq keeps its copies of a remote connection's projects:
    its `mirror:`, else STATE/mirrors/NAME."""
    return settings.get("mirror") or os.path.join(state_dir, "mirrors", name)


def change_url(driver: str, web_url: str | None, project: str, change: str) -> str | None:
    """The web page of a change (by its ref or number), where the driver has one."""
    links = DRIVERS[driver].links if driver in DRIVERS else None
    return importlib.import_module(links).change_url(web_url, project, change) if links else None


def build_connections(connections: Mapping[str, dict], state_dir: str) -> dict[str, Connection]:
    """One Connection per validated entry of `connections:`. Every
    connection learns every gerrit web-url, to read Depends-On URLs."""
    web_urls = {name: c["web-url"] for name, c in connections.items() if c.get("web-url")}
    return {name: build(name, c, state_dir, web_urls) for name, c in connections.items()}


def build(name: str, settings: dict, state_dir: str, web_urls: Mapping[str, str]) -> Connection:
    cls = DRIVERS[settings["driver"]].connection_class()
    return cls.from_settings(name, settings, state_dir, web_urls)
