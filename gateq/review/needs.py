"""The changes a change needs, as its connections say they are now.

A change needs those its `Depends-On:` footers name (Gerrit change URLs,
or PROJECT:REF for the git driver: gateq/drivers/depends_on.py), on any
connection, and the open changes its commits are based on (a relation
chain). Each is asked of its own connection, and so are the changes it
needs in turn, breadth first, up to LIMIT changes: the core decides from
what it is told (merged, open and meeting the pipeline's requirements,
abandoned, unknown), without asking anything itself. Blocking calls: run
off the loop.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..core.types import Change, ChangeKey, NeededChange, NeedStatus, ReviewState, full_ref
from ..drivers.base import AlreadyOnBranch, Connection, DriverError, NotFound
from ..drivers.depends_on import GerritChange, GitRef
from ..drivers.records import ChangeInfo, ChangeRef, ChangeState

if TYPE_CHECKING:
    from .connections import Connections

LIMIT = 50        # needed changes followed from one change, at most


@dataclass(frozen=True)
class Need:
    """A change named as needed, before its connection was asked."""
    connection: str | None          # None: no connection of this configuration has it
    project: str | None             # None: the URL did not say (Gerrit knows)
    change: ChangeRef
    branch: str
    reason: str | None = None       # why it cannot be asked (connection None)


@dataclass
class Found:
    """A needed change as its connection answered."""
    key: ChangeKey
    status: NeedStatus
    change: Change | None = None
    review: ReviewState | None = None   # for an open change of a review system
    reason: str | None = None
    needs: list[Need] = field(default_factory=list)


def key_id(change: ChangeRef) -> str:
    """A change's id in its ChangeKey: its number where it has one (every
    patch set of it shares the key), else its ref."""
    return str(change.number) if change.number is not None else full_ref(change.ref or "")


def needs_of(info: ChangeInfo, layout, connection: str, branch: str) -> list[Need]:
    """What `info` says its change needs: Depends-On references, then parents."""
    found = []
    for reference in info.depends_on.references:
        if isinstance(reference, GerritChange):
            found.append(Need(reference.connection, reference.project,
                              ChangeRef(None, None, reference.number), branch))
        elif isinstance(reference, GitRef):
            project = layout.projects.get(reference.project)
            found.append(Need(project.connection if project else None, reference.project,
                              ChangeRef(reference.ref), branch,
                              None if project else f"project {reference.project} is in no layout"))
    found += [Need(connection, info.project, parent, branch) for parent in info.parents]
    found += [Need(None, None, ChangeRef(u.value), branch, f"Depends-On: {u.value}: {u.reason}")
              for u in info.depends_on.unrecognised]
    return found


class Resolver:
    def __init__(self, connections: "Connections", limit: int = LIMIT) -> None:
        self.connections = connections
        self.layout = connections.config.layout
        self.limit = limit

    def keys(self, needs: list[Need], found: dict) -> tuple:
        """Change.needs: the keys of the changes `needs` names (as resolved)."""
        return tuple(found[self.need_id(n)].key for n in needs if self.need_id(n) in found)

    @staticmethod
    def need_id(need: Need) -> tuple:
        return (need.connection, need.project, key_id(need.change))

    def resolve(self, needs: list[Need]) -> dict[tuple, Found]:
        """Every change reachable from `needs`, each asked once, breadth first."""
        found: dict[tuple, Found] = {}
        todo = deque(needs)
        while todo and len(found) < self.limit:
            need = todo.popleft()
            if self.need_id(need) in found:
                continue
            answer = self.ask(need)
            found[self.need_id(need)] = answer
            todo.extend(answer.needs)
        return found

    def ask(self, need: Need) -> Found:
        if need.connection is None or need.connection not in self.connections.by_name:
            reason = need.reason or f"no connection {need.connection}"
            return Found(ChangeKey(need.connection or "", need.project or "",
                                   key_id(need.change)), NeedStatus.UNKNOWN, reason=reason)
        connection = self.connections[need.connection]
        try:
            info = self.info(connection, need)
        except DriverError as exc:      # Unreachable too: the core says why it cannot enqueue
            return Found(ChangeKey(need.connection, need.project or "", key_id(need.change)),
                         NeedStatus.UNKNOWN, reason=str(exc))
        key = ChangeKey(need.connection, info.project, key_id(info.change))
        needs = needs_of(info, self.layout, need.connection, info.branch)
        if info.state is not ChangeState.OPEN:
            return Found(key, NeedStatus(info.state.value), needs=[])
        try:
            pinned = pin(connection, info)
        except AlreadyOnBranch:
            return Found(key, NeedStatus.MERGED)
        except DriverError as exc:
            return Found(key, NeedStatus.UNKNOWN, reason=str(exc), needs=needs)
        return Found(key, NeedStatus.OPEN, pinned, review_state(connection, info, None),
                     needs=needs)

    def info(self, connection: Connection, need: Need) -> ChangeInfo:
        """The git driver needs a branch: the depending change's, else the
        project's default one."""
        try:
            return connection.change_info(need.project, need.change, need.branch)
        except NotFound:
            project = self.layout.projects.get(need.project or "")
            if connection.driver != "git" or project is None or \
                    project.default_branch == need.branch:
                raise
            return connection.change_info(need.project, need.change, project.default_branch)

    def needed(self, found: dict[tuple, Found]) -> tuple[NeededChange, ...]:
        """TriggerEvent.needed: each change found, with its own needs set."""
        out = []
        for answer in found.values():
            change = answer.change
            if change is not None:
                change = with_needs(change, self.keys(answer.needs, found))
            out.append(NeededChange(answer.key, answer.status, change, answer.review,
                                    answer.reason))
        return tuple(out)


def pin(connection: Connection, info: ChangeInfo, change: ChangeRef | None = None) -> Change:
    """The change (or `change`, a patch set of it) pinned, with what its
    system knows of it: number, patch set, page."""
    ref = change or info.change
    pinned = connection.pin(info.project, ref, info.branch)
    return replace(pinned, number=ref.number or info.change.number, patchset=ref.patchset,
                   url=ref.url or info.change.url)


def with_needs(change: Change, needs: tuple[ChangeKey, ...]) -> Change:
    return replace(change, needs=needs)


def review_state(connection: Connection, info: ChangeInfo, patchset: int | None
                 ) -> ReviewState | None:
    """The change's state and current votes, for the core's requirements;
    None for the git driver (no review system: no requirements apply)."""
    if connection.driver == "git":
        return None
    current = info.change.patchset
    return ReviewState(
        open=info.is_open, wip=info.wip,
        current_patchset=patchset is None or current is None or patchset == current,
        approvals=tuple(sorted({(v.label, v.value) for v in info.approvals})))
