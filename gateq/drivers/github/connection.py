"""The github connection: the forge connection speaking GitHub's dialect."""
from __future__ import annotations

from ..forge.connection import ForgeConnection
from .dialect import GitHubDialect


class GitHubConnection(ForgeConnection):
    driver = "github"
    dialect = GitHubDialect()
