"""`connections: {NAME: {driver: git, root: DIR}}`: the git driver's
attributes, as a voluptuous dict (defaults here, nowhere else)."""
from __future__ import annotations

from voluptuous import Required

from ...config.values import existing_dir


def schema(config_dir: str) -> dict:
    return {
        Required("driver"): "git",
        Required("root"): existing_dir(config_dir),
    }
