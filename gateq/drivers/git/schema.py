"""`connections: {NAME: {driver: git, root: DIR}}`: the git driver's
attributes, and what a pipeline may say about a git connection (its
trigger events and its reporter), as voluptuous dicts with every default.
A git connection has no review state, so no `require:`, and no votes:
its reports stay in the results store."""
from __future__ import annotations

from voluptuous import All, Optional, Required

from ...config.values import choice, each, existing_dir, flag

TRIGGER_EVENTS = ("proposed", "approved")


def schema(config_dir: str) -> dict:
    return {
        Required("driver"): "git",
        Required("root"): existing_dir(config_dir),
    }


def trigger(entry: dict) -> dict:
    """The entry in the form every driver's triggers take."""
    return {"events": [entry["event"]], "branch": None, "approvals": (), "comment": None}


def reporter(entry: dict) -> dict:
    return {"labels": (), "submit": False, "merge": entry["merge"]}


def layout_parts() -> dict:
    """The schema of each part of a pipeline that names a git connection."""
    return {
        "trigger": each(All({Required("event"): choice(TRIGGER_EVENTS)}, trigger)),
        "reporter": All({Optional("merge", default=False): flag}, reporter),
    }
