"""What a scheduler taking over on another host must fetch or make again,
and whether it may publish at all.

The journal names commits: the changes (fetched into the mirror of the
scheduler that heard them) and the items' speculative states (made by the
merger of the scheduler that ran them); and exports, accepted into the
artifact store of the scheduler that collected them. With a mirror and a
store per host, a standby has none of them. The changes are fetched again
through their connection; the items whose speculative commits or accepted
exports are missing are named in one WorkLost event, so the core merges
them again (a few milliseconds each: the merger writes git objects only)
and runs their builds again, instead of their builds or their landing
failing. The snapshots the gate published are another matter: they cannot
be made again, so a publish root that lacks some is refused
(`publish_root_behind`): schedulers that publish share one.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from .artifacts.model import RejectedArtifact, check_relative
from .core.events import Event, LandCompleted, WorkLost
from .core.state import Item, Stage
from .core.types import JobResult
from .drivers.base import DriverError
from .git.repo import GitError, resolve, run

log = logging.getLogger("gateq.engine")


def work_lost(scheduler, connections, artifacts, now: float) -> WorkLost | None:
    """Fetch the changes this host lacks; the event naming the items whose
    speculative commits or accepted exports it lacks, if any (logged)."""
    fetch_missing_changes(scheduler, connections)
    merges = lost_merges(scheduler, connections.repo_path)
    exports = LostExports()
    if artifacts:
        store = artifacts.store
        exports = lost_exports(scheduler, lambda b: os.path.exists(store.set_path(b)),
                               connections.repo_path, connections.is_local)
    if merges:
        log.warning("%d item(s) have speculative commits this host's repositories lack (made "
                    "by another scheduler): merging them again", len(merges))
    if exports.rebuilt or exports.landing:
        log.warning("%d item(s) have exports this host's artifact store lacks (accepted by "
                    "another scheduler): building them again, with what is built on them",
                    len(exports.rebuilt) + len(exports.landing))
    for item in exports.landed:
        if not artifacts.published_by(item):
            log.warning("item %d landed on git before its snapshot was published, and its "
                        "exports are in another host's artifact store: it cannot be "
                        "published here", item)
    items = tuple(dict.fromkeys(merges + exports.rebuilt))
    return WorkLost(now, items, exports.landing) if items or exports.landing else None


def missing(path: str, commits: set[str]) -> set[str]:
    """Those of `commits` the repository at `path` lacks (all, if it is not one)."""
    if not commits:
        return set()
    try:
        proc = run(path, "cat-file", "--batch-check", stdin="".join(f"{c}\n" for c in commits))
    except GitError:
        return set(commits)
    if proc.returncode != 0:
        return set(commits)
    return {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" missing")}


def fetch_missing_changes(scheduler, connections) -> None:
    """Fetch the changes of every queued item this host's repositories lack."""
    wanted: dict[str, dict[str, object]] = {}
    for item in scheduler.state.items():
        for member in item.members:
            wanted.setdefault(member.change.project, {})[member.change.revision] = member.change
    for project, changes in wanted.items():
        if project not in scheduler.layout.projects:
            continue                         # removed from the layout: its items are pruned
        for revision in missing(connections.repo_path(project), set(changes)):
            change = changes[revision]
            try:
                connections.of(project).fetch_change(change)
            except (DriverError, GitError, OSError) as exc:
                log.warning("change %s of %s is not in this host's repository and could not be "
                            "fetched: %s", change.name, project, exc)


def lost_merges(scheduler, repo_path) -> tuple[int, ...]:
    """Items (not landing) whose speculative state names a commit missing
    here. Only the branches some queued change targets are looked at: the
    others stand at their tips in every state (a distgit queue's states
    name hundreds of them), which the mirror fetches as it starts."""
    changed = {(m.change.project, m.change.branch)
               for item in scheduler.state.items() for m in item.members}
    holding: dict[str, set[str]] = {}
    items = [i for i in scheduler.state.items() if i.spec and i.stage is not Stage.LANDING]
    for item in items:
        for project, branch, commit in item.spec:
            if (project, branch) in changed and project in scheduler.layout.projects:
                holding.setdefault(project, set()).add(commit)   # (a project may be gone)
    gone = {(p, c) for p, commits in holding.items() for c in missing(repo_path(p), commits)}
    return tuple(i.id for i in items if any((p, c) in gone for p, _, c in i.spec))


@dataclass(frozen=True)
class LostExports:
    """Items with an accepted export this host's artifact store lacks:
    `rebuilt` are merged and built again (those landing among them: their
    landing has not happened); `landed`, landing items whose branches
    already moved, cannot be (their landing may have published elsewhere)."""
    rebuilt: tuple[int, ...] = ()
    landing: tuple[int, ...] = ()
    landed: tuple[int, ...] = ()


def lost_exports(scheduler, stored: Callable[[str], bool], repo_path: Callable[[str], str],
                 is_local: Callable[[str], bool]) -> LostExports:
    """Merged items (landing ones too) with an export build that succeeded
    whose artifact set is not `stored` here. A landing item is rebuilt only
    when its branches are all on the git driver (moved here, by update-ref)
    and still where its landing starts: a mirror of another system may not
    show a landing made there yet."""
    jobs = scheduler.layout.jobs
    rebuilt, landing, landed = [], [], []
    for item in scheduler.state.items():
        if item.stage is Stage.QUEUED or item.pipeline not in scheduler.layout.pipelines:
            continue
        if all(stored(build) for build in accepted_exports(item, jobs)):
            continue
        if item.stage is not Stage.LANDING:
            rebuilt.append(item.id)
        elif landing_not_started(item, repo_path, is_local):
            landing.append(item.id)
        else:
            landed.append(item.id)
    return LostExports(tuple(rebuilt), tuple(landing), tuple(landed))


def accepted_exports(item: Item, jobs: Mapping) -> list[str]:
    """The item's export builds that succeeded (their artifacts were accepted)."""
    return [b.id for b in item.builds.values()
            if b.job in jobs and jobs[b.job].export and b.result is JobResult.SUCCESS]


def landing_not_started(item: Item, repo_path: Callable[[str], str],
                        is_local: Callable[[str], bool]) -> bool:
    """Every branch the item's landing moves is on the git driver and
    still at the commit the landing moves it from."""
    moves = [(item.change.project, item.change.branch, item.base_commit), *item.bases]
    try:
        return all(is_local(p) and resolve(repo_path(p), f"refs/heads/{b}") == old
                   for p, b, old in moves)
    except GitError:
        return False


# -- the publish root ------------------------------------------------------------

def adopt_published(artifacts) -> int:
    """Put into this host's artifact store the files of each repository's
    current snapshot that it lacks (published by a scheduler on another
    host, from its own store): the next snapshot is made from the store,
    the published one's files included. Each is hard-linked from the
    snapshot (copied across filesystems) and its sha256 checked against
    the manifest; one that cannot be is logged. How many were adopted."""
    adopted = 0
    for repository in artifacts.repositories:
        layer = artifacts.publisher(repository).current_layer()
        for artifact in layer.artifacts() if layer else ():
            blob = artifacts.store.blob(artifact.entry.sha256)
            if os.path.exists(blob):
                continue
            try:
                check_relative(artifact.entry.path)        # read from a manifest on disk
                adopt(os.path.join(layer.path, artifact.entry.path), artifact.entry.sha256, blob,
                      os.path.join(artifacts.store.root, "tmp"))
                adopted += 1
            except (OSError, ValueError, RejectedArtifact) as exc:
                log.warning("a published file cannot be taken into this host's artifact "
                            "store (the next snapshot cannot be made without it): %s "
                            "snapshot %d: %s", repository, layer.number, exc)
    if adopted:
        log.info("took %d published file(s) into this host's artifact store", adopted)
    return adopted


def adopt(source: str, sha256: str, blob: str, tmp_dir: str) -> None:
    """One published file into the store as `blob`, or OSError (ValueError:
    its content is not what the manifest says)."""
    tmp = os.path.join(tmp_dir, f"adopt-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        try:
            os.link(source, tmp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(source, tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"{source}: its content is not the sha256 its manifest names")
        os.chmod(tmp, 0o444)
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        os.replace(tmp, blob)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@dataclass(frozen=True)
class Behind:
    """A repository whose `current` in this publish root is older than the
    snapshot the gate last published of it."""
    repository: str
    here: int
    published: int


def newest_snapshots(events: Iterable[Event], results: Iterable[dict]) -> dict[str, int]:
    """The newest snapshot of each repository the journal's landings
    (`events`) and the results (`snapshot`: {repository: number}) name."""
    newest: dict[str, int] = {}
    named = [dict(e.snapshots) for e in events if isinstance(e, LandCompleted) and e.ok]
    named += [r.get("snapshot") or {} for r in results]
    for snapshots in named:
        for repository, number in snapshots.items():
            if isinstance(number, int) and number > newest.get(repository, 0):
                newest[repository] = number
    return newest


def publish_root_behind(artifacts, published: Mapping[str, int]) -> list[Behind]:
    """The repositories of the layout this host's publish root holds an
    older snapshot of than the gate published: it is not the root the
    gate published to (another host's, or a copy left behind). One ahead
    is not refused: a landing killed before it was journaled leaves the
    shared root one snapshot ahead of the journal."""
    found = []
    for repository in artifacts.repositories:
        here = artifacts.publisher(repository).current_number()
        if here < published.get(repository, 0):
            found.append(Behind(repository, here, published[repository]))
    return found


def describe_behind(root: str, behind: list[Behind]) -> str:
    """One line for the log, naming the root, each repository and both numbers."""
    what = "; ".join(f"{b.repository} is at snapshot {b.here} here, the gate published "
                     f"snapshot {b.published}" for b in behind)
    return (f"publish root {root} is not the one the gate published to ({what}): "
            "schedulers that publish must share one publish root")
