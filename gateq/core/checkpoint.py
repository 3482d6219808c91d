"""The whole scheduler State as plain JSON data, and back: a checkpoint.

It holds every queue and item (its changes, stage, generation, base,
speculative state, builds and their results so far, why it fails, the
answers of its checks before landing), the running builds, the
windows, the item counter and the time, so the engine may checkpoint while
busy and replay only the journal after it: a Scheduler built on a loaded
checkpoint decides exactly as the one it was taken from. What the scheduler
derives (its books) is rebuilt from the State, never stored.

Version 2 is this form. A checkpoint without a version is the idle form
gateq wrote before ({"next_item", "windows"}), still read. A malformed one
is a ValueError naming the field, e.g. `pipelines[0].queues[1].items[3]:
missing 'generation'`.
"""
from __future__ import annotations

import enum
from typing import Any

from . import codec
from .state import Build, ChangeQueue, Item, Member, PipelineState, Stage, State
from .types import BuildState, Change, ChangeKey, CheckAnswer, JobResult

VERSION = 2


# -- saving -------------------------------------------------------------------

def save(state: State) -> dict:
    return {
        "version": VERSION, "next_item": state.next_item, "now": state.now,
        "running": dict(state.builds),
        "pipelines": [{"name": p.name, "queues": [
            {"name": q.name, "window": q.window, "items": [_item(i) for i in q.items]}
            for q in p.queues.values()]} for p in state.pipelines.values()],
    }


def _item(item: Item) -> dict:
    first = item.members[0]
    return {
        "id": item.id, "jobs": list(item.jobs), **_member(first), "change_id": first.id,
        "more": [{"id": m.id, **_member(m)} for m in item.members[1:]],
        "generation": item.generation,
        "base": item.base, "base_generation": item.base_generation, "stage": item.stage.value,
        "spec": [list(t) for t in item.spec], "base_commit": item.base_commit,
        "bases": [list(t) for t in item.bases], "sealed": item.sealed,
        "failing": item.failing,
        "builds": [_build(b) for b in item.builds.values()],
        "controls": [_build(b) for b in item.controls.values()],
        **({"checks": [{"change": name, "met": a.met, "reason": a.reason, "tries": a.tries}
                       for name, a in item.checks.items()]} if item.checks else {}),
    }


def _build(b: Build) -> dict:
    return {"id": b.id, "job": b.job, "state": b.state.value,
            "result": b.result.value if b.result else None,
            "started_at": b.started_at, "finished_at": b.finished_at,
            "duration": b.duration, "attempt": b.attempt, "retried": list(b.retried),
            "review": b.review, "excused": b.excused}


def _member(m: Member) -> dict:
    return {"change": codec.change_plain(m.change),
            "enqueued_at": m.enqueued_at, "depends_on": list(m.depends_on)}


# -- loading ------------------------------------------------------------------

class Field:
    """One value of the checkpoint and where it is, for the error that names it."""

    def __init__(self, value: Any, where: str):
        self.value, self.where = value, where

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"checkpoint: {self.where}: {problem}" if self.where else f"checkpoint: {problem}")

    def __getitem__(self, key: str) -> "Field":
        if not isinstance(self.value, dict):
            raise self.fail("not an object")
        if key not in self.value:
            raise self.fail(f"missing '{key}'")
        return Field(self.value[key], f"{self.where}.{key}" if self.where else key)

    def get(self, key: str) -> "Field":
        """Like [key], with None where the key is missing (added in a later version)."""
        if isinstance(self.value, dict) and key not in self.value:
            return Field(None, f"{self.where}.{key}")
        return self[key]

    def items(self) -> list["Field"]:
        if not isinstance(self.value, list):
            raise self.fail("not a list")
        return [Field(v, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def of(self, kind: type | tuple, none: bool = False) -> Any:
        ok = (self.value is None and none) or (isinstance(self.value, kind) and not isinstance(self.value, bool))
        if not ok:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{self.value!r} is not a {names}" + (" or null" if none else ""))
        return self.value

    def number(self, none: bool = False) -> float | None:
        return self.of((int, float), none)

    def enum(self, kind: type[enum.Enum], none: bool = False) -> Any:
        if none and self.value is None:
            return None
        try:
            return kind(self.value)
        except ValueError:
            raise self.fail(f"{self.value!r} is not one of {', '.join(m.value for m in kind)}") from None

    def strings(self) -> list[str]:
        return [f.of(str) for f in self.items()]


def load(data: dict | None) -> State:
    if data is None:
        return State()
    root = Field(data, "")
    root.of(dict)
    if "version" not in data:
        return _load_idle(root)
    if root["version"].value != VERSION:
        raise root["version"].fail(f"{data['version']!r} is not a version this gateq reads (1, {VERSION})")
    state = State(next_item=root["next_item"].of(int), now=root["now"].number())
    for pfield in root["pipelines"].items():
        pstate = PipelineState(pfield["name"].of(str))
        for qfield in pfield["queues"].items():
            queue = ChangeQueue(qfield["name"].of(str), qfield["window"].of(int))
            queue.reorder([_load_item(f, pstate.name, queue.name, state) for f in qfield["items"].items()])
            pstate.queues[queue.name] = queue
        state.pipelines[pstate.name] = pstate
    running = root["running"]
    for build, item_id in running.of(dict).items():
        if Field(item_id, f"running.{build}").of(int) not in state.index:
            raise running.fail(f"build {build} runs for item {item_id}, which no queue holds")
        state.builds[build] = item_id
    return state


def _load_item(f: Field, pipeline: str, queue: str, state: State) -> Item:
    item_id = f["id"].of(int)
    first = _load_member(f, f.get("change_id").of(int, none=True) or item_id)
    more = f.get("more")
    members = (first, *(_load_member(m, m["id"].of(int)) for m in (more.items() if more.value is not None else ())))
    bases = f.get("bases")
    item = Item(
        id=item_id, pipeline=pipeline, queue=queue, members=members, jobs=tuple(f["jobs"].strings()),
        generation=f["generation"].of(int), base=f["base"].of(int, none=True),
        base_generation=f["base_generation"].of(int, none=True), stage=f["stage"].enum(Stage),
        spec=tuple(_triple(t) for t in f["spec"].items()), base_commit=f["base_commit"].of(str, none=True),
        bases=tuple(_triple(t) for t in bases.items()) if bases.value is not None else (),
        sealed=_flag(f.get("sealed")),
        failing=f["failing"].of(str, none=True))
    for b in f["builds"].items():
        build = _load_build(b)
        item.builds[build.job] = build
    controls = f.get("controls")
    for b in controls.items() if controls.value is not None else ():
        build = _load_build(b)
        item.controls[build.job] = build
    checks = f.get("checks")
    for c in checks.items() if checks.value is not None else ():
        met = c["met"]
        if met.value is not None and not isinstance(met.value, bool):
            raise met.fail(f"{met.value!r} is not true, false or null")
        item.checks[c["change"].of(str)] = CheckAnswer(met.value, c["reason"].of(str, none=True),
                                                       c["tries"].of(int))
    if item.id in state.index:
        raise f["id"].fail(f"item {item.id} appears twice")
    state.index[item.id] = item
    for member in item.members:
        if member.id in state.holders:
            raise f["id"].fail(f"change {member.id} appears twice")
        state.holders[member.id] = item
    return item


def _load_build(b: Field) -> Build:
    """A build; the fields after `duration` came in later forms of version 2."""
    retried = b.get("retried")
    return Build(b["id"].of(str), b["job"].of(str), b["state"].enum(BuildState),
                 b["result"].enum(JobResult, none=True), b["started_at"].number(none=True),
                 b["finished_at"].number(none=True), b.get("duration").number(none=True),
                 b.get("attempt").of(int, none=True) or 1,
                 tuple(retried.strings()) if retried.value is not None else (),
                 _flag(b.get("review")), b.get("excused").of(str, none=True))


def _load_member(f: Field, member_id: int) -> Member:
    c = f["change"]
    needs = c.get("needs")
    change = Change(c["project"].of(str), c["ref"].of(str), c["branch"].of(str), c["revision"].of(str),
                    frozenset(c["commits"].strings()), c.get("number").of(int, none=True),
                    c.get("patchset").of(int, none=True), c.get("url").of(str, none=True),
                    tuple(_key(k) for k in needs.items()) if needs.value is not None else ())
    return Member(member_id, change, f["enqueued_at"].number(),
                  tuple(d.of(int) for d in f["depends_on"].items()))


def _key(f: Field) -> ChangeKey:
    return ChangeKey(f["connection"].of(str), f["project"].of(str), f["id"].of(str))


def _flag(f: Field) -> bool:
    """A boolean added in a later version: missing is false."""
    if f.value is None:
        return False
    if not isinstance(f.value, bool):
        raise f.fail(f"{f.value!r} is not true or false")
    return f.value


def _triple(f: Field) -> tuple[str, str, str]:
    parts = f.strings()
    if len(parts) != 3:
        raise f.fail("not a [project, branch, commit] triple")
    return parts[0], parts[1], parts[2]


def _load_idle(root: Field) -> State:
    """The form an idle gate saved before version 2: the counter and the windows."""
    state = State(next_item=root["next_item"].of(int))
    windows = root["windows"]
    for pipeline, queues in windows.of(dict).items():
        pstate = state.pipelines.setdefault(pipeline, PipelineState(pipeline))
        for name, window in Field(queues, f"windows.{pipeline}").of(dict).items():
            pstate.queues[name] = ChangeQueue(name, Field(window, f"windows.{pipeline}.{name}").of(int))
    return state
