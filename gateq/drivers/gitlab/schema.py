"""`driver: gitlab`: the forge attributes (gateq/drivers/forge/schema.py);
the API root defaults to URL/api/v4."""
from ..forge.schema import layout_parts, schema_for
from .dialect import GitLabDialect

schema = schema_for("gitlab", GitLabDialect().api_url)

__all__ = ["layout_parts", "schema"]
