"""What a change needs before it may be enqueued (Depends-On, relation chains).

The engine tells, with the event, every change the change needs
(transitively: TriggerEvent.needed, each with its own needs); the core
decides from that alone. In a dependent pipeline each needed change must
have merged, or be in the same queue already (so: ahead), or be open and
meet the pipeline's requirements, and then it is enqueued ahead of the
change, dependencies first. Changes that need each other (a cycle: a
strongly connected component) become one item where their queue allows
circular dependencies. An independent pipeline tests the change together
with every open change it needs, in one item. Anything else refuses the
change with a reason, which is reported: never a silent ignore.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config.model import Layout, Pipeline
from . import requirements
from .types import Change, ChangeKey, NeededChange, NeedStatus

# A queued change in the pipeline with that key and revision: the name of its queue, else None.
QueuedIn = Callable[[ChangeKey, str], "str | None"]


@dataclass(frozen=True)
class Plan:
    """The items to enqueue, in order, each as its changes (several: a
    cycle, or in an independent pipeline the change and what it needs,
    the change first); the change's own item is the last. Or why not."""
    groups: tuple[tuple[Change, ...], ...] = ()
    refused: str | None = None


def refuse(reason: str) -> Plan:
    return Plan(refused=reason)


class Planner:
    """One change's plan; `graph` holds the open changes it needs that must
    be enqueued with it, each with the keys of those it needs in turn."""

    def __init__(self, layout: Layout, pipeline: Pipeline, change: Change, connection: str,
                 needed: tuple[NeededChange, ...], queued_in: QueuedIn):
        self.layout, self.pipeline, self.queued_in = layout, pipeline, queued_in
        self.root = change.key(connection)
        self.nodes = {n.key: n for n in needed}
        self.changes: dict[ChangeKey, Change] = {self.root: change}
        self.graph: dict[ChangeKey, tuple[ChangeKey, ...]] = {}
        self.queue = layout.projects[change.project].queue_name

    def plan(self) -> Plan:
        reason = self.walk(self.root)
        if reason is not None:
            return refuse(reason)
        components = strongly_connected(self.graph, self.root)
        for component in components:
            reason = self.cycle_refused(component)
            if reason is not None:
                return refuse(reason)
        if self.pipeline.dependent:
            return Plan(tuple(tuple(self.changes[k] for k in c) for c in components))
        return self.independent(components)

    def walk(self, key: ChangeKey) -> str | None:
        """Follow what `key` needs, depth first; why the change cannot be enqueued, or None."""
        needs = self.changes[key].needs
        self.graph[key] = ()
        wanted = []
        for dep in needs:
            if dep == self.root:
                wanted.append(dep)
                continue
            node = self.nodes.get(dep)
            reason = self.why_not(dep, node)
            if reason is not None:
                return reason
            if node.status is NeedStatus.MERGED or self.queued(node):
                continue
            wanted.append(dep)
            if dep not in self.graph:
                self.changes[dep] = node.change
                reason = self.walk(dep)
                if reason is not None:
                    return reason
        self.graph[key] = tuple(wanted)
        return None

    def queued(self, node: NeededChange) -> bool:
        """Already in this dependent pipeline: ahead of anything enqueued
        now (why_not checked its queue). An independent pipeline tests each
        item alone: what it needs is in it, queued elsewhere or not."""
        return self.pipeline.dependent and node.change is not None and \
            self.queued_in(node.key, node.change.revision) is not None

    def why_not(self, key: ChangeKey, node: NeededChange | None) -> str | None:
        name = node.change.name if node is not None and node.change is not None else key.name
        if node is None:
            return f"needs {name}, which could not be looked up"
        if node.status is NeedStatus.MERGED:
            return None
        if node.status is NeedStatus.ABANDONED:
            return f"needs {name}, which is abandoned"
        if node.status is NeedStatus.UNKNOWN or node.change is None:
            return f"needs {name}, which is unknown" + (f": {node.reason}" if node.reason else "")
        project = self.layout.projects.get(node.change.project)
        if project is None:
            return f"needs {name}, whose project {node.change.project} is in no layout"
        if not self.pipeline.dependent:
            return None
        queued = self.queued_in(key, node.change.revision)
        if self.pipeline.name not in project.pipelines:
            return f"needs {name}, whose project does not run in pipeline {self.pipeline.name}"
        if (queued or project.queue_name) != self.queue:
            return f"needs {name}, which is in another queue ({queued or project.queue_name})"
        if queued is None:
            missing = requirements.missing(self.pipeline, project.connection, node.review)
            if missing:
                return f"needs {name}, which does not meet the requirements: {missing}"
        return None

    def cycle_refused(self, component: tuple[ChangeKey, ...]) -> str | None:
        if len(component) == 1 or self.layout.queue(self.queue).allow_circular_dependencies:
            return None
        names = ", ".join(self.changes[k].name for k in component)
        subject = "is part of" if self.root in component else "needs changes that form"
        return f"{subject} a dependency cycle ({names}) and queue {self.queue} does not allow them"

    def independent(self, components: list[tuple[ChangeKey, ...]]) -> Plan:
        """One item: the change first, then what it needs, dependencies
        first, leaving out those its own commits (or another's) hold."""
        others = [self.changes[k] for c in components for k in c if k != self.root]
        change = self.changes[self.root]
        held = (change, *others)
        kept = [o for o in others
                if not any(c is not o and c.project == o.project and o.revision in c.commits for c in held)]
        return Plan(((change, *kept),))


def strongly_connected(graph: dict[ChangeKey, tuple[ChangeKey, ...]],
                       root: ChangeKey) -> list[tuple[ChangeKey, ...]]:
    """Tarjan's components of the graph from `root`, each completed after
    every component it needs: dependencies first, `root`'s last. Inside a
    component, in the order they were reached (deterministic)."""
    index: dict[ChangeKey, int] = {}
    low: dict[ChangeKey, int] = {}
    stack: list[ChangeKey] = []
    on_stack: set[ChangeKey] = set()
    out: list[tuple[ChangeKey, ...]] = []

    def visit(key: ChangeKey) -> None:
        index[key] = low[key] = len(index)
        stack.append(key)
        on_stack.add(key)
        for dep in graph.get(key, ()):
            if dep not in index:
                visit(dep)
                low[key] = min(low[key], low[dep])
            elif dep in on_stack:
                low[key] = min(low[key], index[dep])
        if low[key] == index[key]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == key:
                    break
            out.append(tuple(sorted(component, key=index.__getitem__)))

    visit(root)
    return out


def plan(layout: Layout, pipeline: Pipeline, change: Change, connection: str,
         needed: tuple[NeededChange, ...], queued_in: QueuedIn) -> Plan:
    """What enqueuing `change` in `pipeline` takes (see the module's docstring)."""
    if not change.needs:
        return Plan(((change,),))
    return Planner(layout, pipeline, change, connection, needed, queued_in).plan()
