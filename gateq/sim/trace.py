"""Traces for `gateq simulate`: the changes a gate sees in a day, as JSON lines.

Reading validates every line at the boundary and names the bad one as
TRACE:LINE; the rest of the simulator trusts what it gets. The format is
described in docs/simulator.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

CHANGE_KEYS = {"id", "at", "project", "branch", "queue", "depends", "jobs", "bad", "conflicts", "flake"}
JOB_KEYS = {"duration", "needs", "export", "requires_export", "flake", "per_project"}


class TraceError(ValueError):
    """A user error in a trace: one line, 'TRACE:LINE: what is wrong'."""


@dataclass(frozen=True)
class TraceJob:
    name: str
    duration: float                  # seconds of one run
    needs: tuple[str, ...] = ()      # jobs of the same item that must succeed first
    export: bool = False             # the job that publishes the artifact
    flake: float | None = None       # per-run flake probability (default: the change's)
    requires_export: bool = False    # installs the artifacts exported by the changes ahead
    per_project: bool = False        # in a batch, it does its work for each project (see batch_seconds)


@dataclass(frozen=True)
class TraceChange:
    """One change, as it arrives in its queue's gate.

    `breaks` names the jobs a bad change makes fail in every tested state
    that contains it; a good change breaks none.
    """
    id: str
    at: float
    project: str
    jobs: tuple[TraceJob, ...]
    branch: str = "main"
    queue: str = ""
    depends: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    flake: float = 0.0
    line: int = 0

    @property
    def bad(self) -> bool:
        return bool(self.breaks)

    def job(self, name: str) -> TraceJob:
        return next(j for j in self.jobs if j.name == name)


@dataclass(frozen=True)
class Trace:
    """Changes in arrival order (ties keep file order) and an optional meta record."""
    path: str
    changes: tuple[TraceChange, ...]
    meta: dict = field(default_factory=dict)

    def by_id(self) -> dict[str, TraceChange]:
        return {c.id: c for c in self.changes}


def read_trace(path: str) -> Trace:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_trace(text, path)


def parse_trace(text: str, path: str = "<trace>") -> Trace:
    meta: dict = {}
    changes: list[TraceChange] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{where}: not JSON: {exc.msg}") from None
        if isinstance(record, dict) and set(record) == {"meta"} and not changes and not meta:
            meta = record["meta"] if isinstance(record["meta"], dict) else {}
            continue
        changes.append(parse_change(record, number, where))
    if not changes:
        raise TraceError(f"{path}:1: the trace holds no change")
    changes.sort(key=lambda c: (c.at, c.line))
    check_references(changes, path)
    return Trace(path, tuple(changes), meta)


def parse_change(record, number: int, where: str) -> TraceChange:
    if not isinstance(record, dict):
        raise TraceError(f"{where}: a change must be a JSON object")
    unknown = sorted(set(record) - CHANGE_KEYS)
    if unknown:
        raise TraceError(f"{where}: unknown key '{unknown[0]}'")
    for key in ("id", "at", "project", "jobs"):
        if key not in record:
            raise TraceError(f"{where}: missing '{key}'")
    cid, project = text_field(record, "id", where), text_field(record, "project", where)
    if ":" in project:
        raise TraceError(f"{where}: project '{project}' must not contain ':'")
    jobs = parse_jobs(record["jobs"], where)
    return TraceChange(
        id=cid, at=number_field(record, "at", where), project=project, jobs=jobs,
        branch=text_field(record, "branch", where, "main"),
        queue=text_field(record, "queue", where, project),
        depends=names_field(record, "depends", where), conflicts=names_field(record, "conflicts", where),
        breaks=parse_bad(record.get("bad", False), jobs, where),
        flake=probability(record.get("flake", 0.0), "flake", where), line=number)


def parse_jobs(value, where: str) -> tuple[TraceJob, ...]:
    if not isinstance(value, dict) or not value:
        raise TraceError(f"{where}: 'jobs' must be a non-empty object of job: duration")
    jobs = []
    for name, spec in value.items():
        spec = {"duration": spec} if not isinstance(spec, dict) else spec
        unknown = sorted(set(spec) - JOB_KEYS)
        if unknown:
            raise TraceError(f"{where}: job '{name}': unknown key '{unknown[0]}'")
        duration = spec.get("duration")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
            raise TraceError(f"{where}: job '{name}': duration must be a number of seconds >= 0")
        needs = names_field(spec, "needs", f"{where}: job '{name}'")
        missing = [n for n in needs if n not in value]
        if missing:
            raise TraceError(f"{where}: job '{name}' needs '{missing[0]}', which the change does not run")
        flake = spec.get("flake")
        jobs.append(TraceJob(name, float(duration), needs, spec.get("export") is True,
                             None if flake is None else probability(flake, f"job '{name}': flake", where),
                             spec.get("requires_export") is True, spec.get("per_project") is True))
    if sum(j.export for j in jobs) > 1:
        raise TraceError(f"{where}: at most one job may be the export job")
    check_acyclic(jobs, where)
    return tuple(jobs)


def parse_bad(value, jobs: tuple[TraceJob, ...], where: str) -> tuple[str, ...]:
    """false: good; true: breaks its first non-export job; a list: breaks those jobs."""
    if value is False:
        return ()
    if value is True:
        return (next((j.name for j in jobs if not j.export), jobs[0].name),)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        unknown = [v for v in value if v not in {j.name for j in jobs}]
        if unknown:
            raise TraceError(f"{where}: 'bad' names job '{unknown[0]}', which the change does not run")
        return tuple(value)
    raise TraceError(f"{where}: 'bad' must be true, false or a list of the change's job names")


def check_acyclic(jobs: list[TraceJob], where: str) -> None:
    needs = {j.name: j.needs for j in jobs}
    done: set[str] = set()
    while len(done) < len(needs):
        free = [n for n, deps in needs.items() if n not in done and set(deps) <= done]
        if not free:
            raise TraceError(f"{where}: the jobs' 'needs' form a cycle")
        done.update(free)


def check_references(changes: list[TraceChange], path: str) -> None:
    """Ids are unique, dependencies arrive earlier on the same branch, conflicts
    are within one project and branch, and every project keeps one queue and one set of jobs (the engine's layout has them
    per project), while a job name means the same job everywhere."""
    seen: dict[str, TraceChange] = {}
    first_of_project: dict[str, TraceChange] = {}
    job_shape: dict[str, tuple[tuple, TraceChange]] = {}
    for c in sorted(changes, key=lambda c: c.line):
        if c.id in seen:
            raise TraceError(f"{path}:{c.line}: change id '{c.id}' already used on line {seen[c.id].line}")
        seen[c.id] = c
    for c in changes:
        where = f"{path}:{c.line}"
        for dep in c.depends:
            d = seen.get(dep)
            if d is None or (d.at, d.line) >= (c.at, c.line):
                raise TraceError(f"{where}: depends on '{dep}', which does not arrive before it")
            if (d.project, d.branch) != (c.project, c.branch):
                raise TraceError(f"{where}: depends on '{dep}' of another project or branch "
                                 "(the engine follows dependencies within a branch only)")
        check_conflicts(c, seen, where)
        first = first_of_project.setdefault(c.project, c)
        if c.queue != first.queue:
            raise TraceError(f"{where}: project '{c.project}' is in queue '{first.queue}' "
                             f"on line {first.line}, not '{c.queue}'")
        if [j.name for j in c.jobs] != [j.name for j in first.jobs]:
            raise TraceError(f"{where}: project '{c.project}' runs jobs {[j.name for j in first.jobs]} "
                             f"on line {first.line}; every change of a project runs the same jobs")
        for j in c.jobs:
            shape = job_shape.setdefault(j.name, ((j.needs, j.export, j.requires_export, j.per_project), c))
            if shape[0] != (j.needs, j.export, j.requires_export, j.per_project):
                raise TraceError(f"{where}: job '{j.name}' has other 'needs', 'export', "
                                 f"'requires_export' or 'per_project' than on line {shape[1].line}")


def check_conflicts(c: TraceChange, by_id: dict[str, TraceChange], where: str) -> None:
    """A textual conflict exists only between two changes of one project and
    branch, neither built on the other (git merges a change onto its own
    ancestors cleanly)."""
    for name in c.conflicts:
        other = by_id.get(name)
        if other is None or other is c:
            raise TraceError(f"{where}: conflicts with unknown change '{name}'")
        if (other.project, other.branch) != (c.project, c.branch):
            raise TraceError(f"{where}: conflicts with '{name}' of {other.project}/{other.branch}: "
                             "a textual conflict needs the same project and branch")
        if name in ancestors(c, by_id) or c.id in ancestors(other, by_id):
            raise TraceError(f"{where}: conflicts with '{name}', which one of them is built on")


def ancestors(c: TraceChange, by_id: dict[str, TraceChange]) -> set[str]:
    """The changes `c` depends on, transitively (ids it names that exist)."""
    found: set[str] = set()
    todo = list(c.depends)
    while todo:
        name = todo.pop()
        if name not in found and name in by_id:
            found.add(name)
            todo.extend(by_id[name].depends)
    return found


def text_field(record: dict, key: str, where: str, default: str | None = None) -> str:
    value = record.get(key, default)
    if not isinstance(value, str) or not value:
        raise TraceError(f"{where}: '{key}' must be a non-empty string")
    return value


def number_field(record: dict, key: str, where: str) -> float:
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise TraceError(f"{where}: '{key}' must be a number of seconds >= 0")
    return float(value)


def names_field(record: dict, key: str, where: str) -> tuple[str, ...]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TraceError(f"{where}: '{key}' must be a list of names")
    return tuple(value)


def probability(value, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise TraceError(f"{where}: '{key}' must be a probability between 0 and 1")
    return float(value)


def dump_change(c: TraceChange) -> dict:
    """The JSON record of a change (the inverse of parse_change)."""
    jobs = {}
    for j in c.jobs:
        spec: dict = {"duration": j.duration}
        if j.needs:
            spec["needs"] = list(j.needs)
        if j.export:
            spec["export"] = True
        if j.requires_export:
            spec["requires_export"] = True
        if j.flake is not None:
            spec["flake"] = j.flake
        if j.per_project:
            spec["per_project"] = True
        jobs[j.name] = spec if len(spec) > 1 else j.duration
    record: dict = {"id": c.id, "at": c.at, "project": c.project}
    if c.branch != "main":
        record["branch"] = c.branch
    if c.queue != c.project:
        record["queue"] = c.queue
    record["jobs"] = jobs
    for key, value in (("depends", list(c.depends)), ("conflicts", list(c.conflicts)),
                       ("bad", list(c.breaks)), ("flake", c.flake)):
        if value:
            record[key] = value
    return record


def dump_trace(trace: Trace) -> str:
    lines = [json.dumps({"meta": trace.meta}, sort_keys=True)] if trace.meta else []
    lines += [json.dumps(dump_change(c)) for c in trace.changes]
    return "\n".join(lines) + "\n"
