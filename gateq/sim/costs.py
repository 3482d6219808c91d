"""What the engine's own work costs in the simulation: merges, workspaces,
views and publishing, in seconds of virtual time.

The engine carries out these actions one at a time in its one process, so
the simulator runs them on one simulated engine thread, in the order they
were asked for (`EngineThread`). Defaults were measured on the real
adapters (`python bench/strategies.py --measure-costs`, see
docs/simulator.md); every one is one row of COSTS (name, default, help).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Costs:
    merge: float = 0.009                 # Merger.merge onto the item ahead
    merge_tip_per_project: float = 0.002  # a head merge reads every queue project's tip
    workspace_per_project: float = 0.023  # prepare_workspace: one shared clone + checkout
    view: float = 0.027                  # a build's speculative repository view
    publish: float = 0.036               # staging a snapshot and switching `current`

    def merge_seconds(self, at_head: bool, projects: int) -> float:
        return self.merge + (self.merge_tip_per_project * projects if at_head else 0.0)

    def workspace_seconds(self, projects: int, with_view: bool) -> float:
        return self.workspace_per_project * projects + (self.view if with_view else 0.0)


HELP = {
    "merge": "one speculative merge onto the item ahead (git merge-tree + commit-tree)",
    "merge_tip_per_project": "added to a merge at the head, per project of the queue (tips read)",
    "workspace_per_project": "a build's workspace, per project of the queue (clone --shared + checkout)",
    "view": "a build's speculative repository view (strategies that export in the gate)",
    "publish": "publishing a snapshot at landing (gateq), or after a post export (zuul-post)",
}

FREE = Costs(0.0, 0.0, 0.0, 0.0, 0.0)


def with_costs(costs: Costs, overrides: dict[str, str]) -> Costs:
    """Apply NAME=SECONDS strings (`--cost merge=0.5`)."""
    names = {f.name for f in fields(costs)}
    changes = {}
    for name, text in overrides.items():
        key = name.replace("-", "_")
        if key not in names:
            raise ValueError(f"unknown cost '{name}' (choose from {', '.join(sorted(names))})")
        try:
            changes[key] = float(text)
        except ValueError:
            raise ValueError(f"cost '{name}': '{text}' is not a number of seconds") from None
        if changes[key] < 0:
            raise ValueError(f"cost '{name}': '{text}' is negative")
    return replace(costs, **changes)


class EngineThread:
    """The engine's one process: each piece of its work starts when the one
    before has finished. `run(now, seconds)` returns when it is done."""

    def __init__(self) -> None:
        self.free_at = 0.0

    def run(self, now: float, seconds: float) -> float:
        if seconds <= 0:
            return now
        self.free_at = max(now, self.free_at) + seconds
        return self.free_at
