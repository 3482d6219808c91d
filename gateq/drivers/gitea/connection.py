"""The gitea connection: the forge connection speaking Gitea's dialect."""
from __future__ import annotations

from ..forge.connection import ForgeConnection
from .dialect import GiteaDialect


class GiteaConnection(ForgeConnection):
    driver = "gitea"
    dialect = GiteaDialect()
