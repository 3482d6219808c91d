"""The configuration's connections, built by their drivers, as the
engine and the request checks use them: which connection a project is
on, its repository there, starting and stopping them, their state.

Building a connection does no I/O (a gerrit connection opens its SSH
sessions when first used), so the command line builds them too.
"""
from __future__ import annotations

import logging
from typing import Callable, Mapping

from ..config.model import Config
from ..drivers import registry
from ..drivers.base import Connection, Deliver, Reporter
from .queries import trigger_queries

log = logging.getLogger("gateq.engine")


class Connections:
    def __init__(self, config: Config, built: Mapping[str, Connection]) -> None:
        self.config = config
        self.by_name = dict(built)

    @classmethod
    def build(cls, config: Config) -> "Connections":
        return cls(config, registry.build_connections(
            {name: dict(c.settings) for name, c in config.connections.items()}, config.state_dir))

    def __getitem__(self, name: str) -> Connection:
        return self.by_name[name]

    def of(self, project: str) -> Connection:
        """The connection of a project of the layout."""
        return self.by_name[self.config.layout.projects[project].connection]

    def repo_path(self, project: str) -> str:
        return self.of(project).repo_path(project)

    def is_local(self, project: str) -> bool:
        """Whether the project's repository is the system itself (the git
        driver), so that its branches move by update-ref here."""
        return self.of(project).driver == "git"

    def projects_of(self, name: str) -> list[str]:
        return sorted(p.name for p in self.config.layout.projects.values() if p.connection == name)

    def start(self, deliver_for: Callable[[str], Deliver]) -> None:
        """Start every connection (returns at once, also for a system that is down)."""
        for name, connection in self.by_name.items():
            queries = trigger_queries(self.config.layout, name, connection.event_kind)
            connection.start(deliver_for(name), queries, self.projects_of(name))
            log.info("connection %s (%s) started for %d projects", name, connection.driver,
                     len(self.projects_of(name)))

    def stop(self) -> None:
        for connection in self.by_name.values():
            connection.stop()

    def reporters(self) -> dict[str, Reporter]:
        """The connections that report to their system (the git driver has none)."""
        return {name: c.reporter for name, c in self.by_name.items() if c.reporter is not None}

    def status(self) -> dict[str, dict]:
        return {name: c.status().as_dict() for name, c in self.by_name.items()}
