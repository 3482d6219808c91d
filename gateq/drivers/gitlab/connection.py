"""The gitlab connection: the forge connection speaking GitLab's dialect."""
from __future__ import annotations

from ..forge.connection import ForgeConnection
from .dialect import GitLabDialect


class GitLabConnection(ForgeConnection):
    driver = "gitlab"
    dialect = GitLabDialect()
