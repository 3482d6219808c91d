"""What a build on a node needs beyond its BuildSpec: where it may run and
what of its workspace goes there and comes back."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tree:
    """A project's checkout at `commit`, sent as the commit's tree
    (git archive of `repository`) to $GATEQ_WORKSPACE/src/<project>."""
    project: str
    repository: str
    commit: str


@dataclass(frozen=True)
class NodeWork:
    """`workspace` is the build's local workspace: its path in the spec's
    cwd and environment becomes the node's. `sends` are its subdirectories
    sent as they are (the artifact views), `brings_back` those copied back
    into it once the job has succeeded (an export's artifacts/)."""
    label: str
    workspace: str
    trees: tuple[Tree, ...] = ()
    sends: tuple[str, ...] = ()
    brings_back: tuple[str, ...] = ()
