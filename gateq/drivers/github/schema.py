"""`driver: github`: the forge attributes (gateq/drivers/forge/schema.py);
the API root defaults to https://api.github.com for github.com, URL/api/v3
for GitHub Enterprise."""
from ..forge.schema import layout_parts, schema_for
from .dialect import GitHubDialect

schema = schema_for("github", GitHubDialect().api_url)

__all__ = ["layout_parts", "schema"]
