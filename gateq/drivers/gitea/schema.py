"""`driver: gitea` (Gitea and Forgejo): the forge attributes
(gateq/drivers/forge/schema.py); the API root defaults to URL/api/v1."""
from ..forge.schema import layout_parts, schema_for
from .dialect import GiteaDialect

schema = schema_for("gitea", GiteaDialect().api_url)

__all__ = ["layout_parts", "schema"]
