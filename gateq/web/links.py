"""Links to a change in its review system, where its connection has one.

A `git` connection has no review system: its changes are refs, shown
without a link. A connection that does (a forge driver) answers
`change_url(project, change)` with the change's page; this is the one
place the pages ask, so a new driver needs nothing here.
"""
from __future__ import annotations

from ..config.model import Config


def change_url_for(config: Config):
    """(project, change) -> the change's URL in its review system, or None."""
    def change_url(project: str, change: str) -> str | None:
        spec = config.layout.projects.get(project)
        connection = config.connections.get(spec.connection) if spec else None
        ask = getattr(connection, "change_url", None)
        return ask(project, change) if ask else None
    return change_url
