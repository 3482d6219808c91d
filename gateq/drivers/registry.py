"""Drivers by name, and the connections `connections:` asks for.

`connection_schema` checks one connection with its driver's schema (a
bad driver name is one error naming the drivers there are);
`build_connections` turns the validated entries into Connections. A
driver's protocol code is imported only when a connection of it is built.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Mapping

from voluptuous import Invalid, MultipleInvalid, Schema

from ..config.errors import quote
from .base import Connection


@dataclass(frozen=True)
class Driver:
    name: str
    schema: str                 # module with schema(config_dir)
    connection: str             # "module:Class" of its Connection

    def load_schema(self, config_dir: str):
        return importlib.import_module(self.schema).schema(config_dir)

    def connection_class(self) -> type[Connection]:
        module, _, cls = self.connection.partition(":")
        return getattr(importlib.import_module(module), cls)


DRIVERS: dict[str, Driver] = {d.name: d for d in (
    Driver("git", "gateq.drivers.git.schema", "gateq.drivers.git.connection:GitDriverConnection"),
    Driver("gerrit", "gateq.drivers.gerrit.schema",
           "gateq.drivers.gerrit.connection:GerritConnection"),
)}


def connection_schema(config_dir: str) -> Callable[[object], dict]:
    """A validator of one connection: its `driver`, then its driver's schema."""
    schemas: dict[str, Schema] = {}

    def check(value):
        if not isinstance(value, dict):
            raise Invalid("expected a dictionary")
        driver = value.get("driver")
        if driver not in DRIVERS:
            raise MultipleInvalid([Invalid(
                f"unknown driver {quote(driver)} (one of {', '.join(DRIVERS)})"
                if "driver" in value else "missing required attribute 'driver'", path=["driver"])])
        if driver not in schemas:
            schemas[driver] = Schema(DRIVERS[driver].load_schema(config_dir))
        return schemas[driver](value)
    return check


def build_connections(connections: Mapping[str, dict], state_dir: str) -> dict[str, Connection]:
    """One Connection per validated entry of `connections:`. Every
    connection learns every gerrit web-url, to read Depends-On URLs."""
    web_urls = {name: c["web-url"] for name, c in connections.items() if c.get("web-url")}
    return {name: build(name, c, state_dir, web_urls) for name, c in connections.items()}


def build(name: str, settings: dict, state_dir: str, web_urls: Mapping[str, str]) -> Connection:
    cls = DRIVERS[settings["driver"]].connection_class()
    return cls.from_settings(name, settings, state_dir, web_urls)
