"""Artifacts around the gate, for the engine: views, exports, publication.

- Before a build: materialise `$GATEQ_REPOS/<repository>` for it (the
  published snapshot plus the export builds the scheduler says it sees).
- After an export build: validate and store what it wrote, or fail it.
- At the head: publish a snapshot of every repository of the queue
  atomically with the git landing (below).
- Now and then: collect what no snapshot, view or live build reaches.

A landing that publishes, in this order, each step durable before the next:
  1. stage every repository's snapshot complete under a temporary name
     (snapshots/<N>.tmp-<pid>), N being current + 1;
  2. write the intent (artifacts/intent.py), in the publish root where
     every scheduler sharing it sees it: the item, the commit git is to
     move to, and each staging's name and number;
  3. move the branch (compare-and-swap);
  4. git moved: for each repository, rename the staging to N, switch
     `current` to it, prune; git did not: remove the stagings;
  5. remove the intent.
A snapshot takes its number only after git moved, so a number on disk
always belongs to a landed item, and a kill before step 3 leaves nothing
but stagings, which no number, `keep` or collector root counts. The intent
is written after staging, not before, because before it there is nothing
to finish: recovery (`recover`, at a start or when the engine resumes after
a full disk) removes every staging and every snapshot that is not `current`
or an ancestor of it, whatever its process. From step 2 to 5 the intent
tells recovery what to do: finish step 4 if the branch is at the intent's
commit, else roll it back; both are idempotent, so a start killed while
recovering is recovered by the next one. The start may be another host's
(a standby taking over, with a state directory and artifact store of its
own): the stagings and the intent are in the shared root, so it finishes
the landing without the exports it was staged from.

The invariant, per repository, between landings and after recovery:
snapshots/ holds only the snapshots of the last `keep` landings that
published to it (all of them, if fewer), complete; the n-th such landing's
is number n (a landing git refused takes no number), its manifest's parent
is n - 1, its `changes` name that landing's item and commit, its
`projects` the branch tips right after it; `current` is the newest. (A
publish root written before this order may lack the numbers of snapshots
that were never current: recovery removes those.)
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from .artifacts.failpoints import RECOVERY, Failpoint, failpoint, phase
from .artifacts.gc import Collected, collect
from .artifacts.intent import (LEGACY_NAME, IntendedSnapshot, PublishIntent, clear_intent,
                               intent_path, intents_left, read_intent, write_intent)
from .artifacts.snapshots import Publisher, StagedSnapshot
from .artifacts.store import ArtifactStore, RejectedArtifact
from .artifacts.view import materialise
from .config.model import Config
from .core import actions as act
from .git.repo import GitError, resolve


class Artifacts:
    def __init__(self, config: Config):
        self.config = config
        self.repositories = config.layout.repositories
        self.store = ArtifactStore(os.path.join(config.state_dir, "cas"))
        self.legacy_intent = os.path.join(config.state_dir, LEGACY_NAME)
        # Made before any build starts, so that the sandbox can mount it
        # read-only for every build, the first landing's included.
        os.makedirs(config.publish_dir, exist_ok=True)
        self.landed_items: dict[str, tuple[int, frozenset[int]]] = {}

    def publisher(self, repo: str) -> Publisher:
        r = self.repositories[repo]
        return Publisher(self.config.publish_dir, r.name, r.type, r.keep, self.store)

    # -- builds ---------------------------------------------------------------

    def prepare_views(self, dest: str, visible: tuple[tuple[str, str], ...]) -> None:
        """One directory per repository: published snapshot, then the exports ahead."""
        for repo, spec in self.repositories.items():
            publisher = self.publisher(repo)
            layers = [publisher.current_layer()] + [self.store.load(b) for r, b in visible if r == repo]
            materialise(os.path.join(dest, repo), spec.type, [layer for layer in layers if layer],
                        self.store, pool=publisher.pool)

    def accept_export(self, action: act.StartBuild, artifacts_dir: str) -> str | None:
        """Store an export build's output; the reason it was rejected, if it was."""
        job = self.config.layout.jobs[action.job]
        repo = self.repositories[job.export]
        try:
            self.store.ingest(action.build, repo.type, artifacts_dir, action.job, action.change.name)
        except RejectedArtifact as exc:
            return str(exc)
        return None

    # -- landing (the sequence in the module docstring) ----------------------

    def land(self, action: act.Land, do_land: Callable[[], tuple[bool, str | None]]
             ) -> tuple[bool, str | None, tuple[tuple[str, int], ...]]:
        if not action.publish:
            ok, reason = do_land()
            return ok, reason, ()
        done = self.published_by(action.item)
        if done:                      # a retried landing that already published
            ok, reason = do_land()
            return ok, reason, done
        lacking = self.exports_lacking(action)
        if lacking:
            return self.land_unpublished(action, do_land, lacking)
        staged = self.stage(action)
        intent = PublishIntent(action.item, action.project, action.branch, action.new, tuple(
            IntendedSnapshot(s.repository, s.number, os.path.basename(s.staging)) for s in staged))
        path = intent_path(self.config.publish_dir, staged[0].repository)
        write_intent(path, intent)
        failpoint(Failpoint.INTENT_WRITTEN)
        ok, reason = do_land()
        failpoint(Failpoint.AFTER_LAND if ok else Failpoint.LAND_FAILED)
        self.settle(intent, ok, path)
        failpoint(Failpoint.PUBLISHED)
        if not ok:
            return ok, reason, ()
        self.landed_items.update((s.repository, (s.number, frozenset({action.item})))
                                 for s in staged)
        return ok, reason, tuple((s.repository, s.number) for s in staged)

    def exports_lacking(self, action: act.Land) -> list[str]:
        """The export builds to publish whose artifact sets this store lacks."""
        return [build for _, builds in action.publish for build in builds
                if not os.path.exists(self.store.set_path(build))]

    def land_unpublished(self, action: act.Land, do_land: Callable[[], tuple[bool, str | None]],
                         lacking: list[str]
                         ) -> tuple[bool, str | None, tuple[tuple[str, int], ...]]:
        """A landing retried after a takeover whose exports were accepted by
        the scheduler before, with nothing of it staged in the publish root
        (that scheduler an older gateq, its intent in its own state
        directory; or a mirror that did not show the branch moved, so the
        staging was removed at the start): the snapshot cannot be made
        here. The landing is carried out (a move already made counts as
        made), nothing is published, and the reason says so."""
        ok, reason = do_land()
        if not ok:
            return ok, reason, ()
        why = (f"nothing was published: the exports {', '.join(lacking)} are not in this "
               "host's artifact store (accepted by another scheduler) and no snapshot "
               "of this landing was staged in the publish root")
        return ok, f"{reason}; {why}" if reason else why, ()

    def stage(self, action: act.Land) -> list[StagedSnapshot]:
        """Step 1: every repository's snapshot, under its temporary name.
        If one cannot be written, those already written go."""
        staged: list[StagedSnapshot] = []
        try:
            for repo, builds in action.publish:
                staged.append(self.publisher(repo).stage(
                    [self.store.load(b) for b in builds], self.manifest_extra(action)))
                failpoint(Failpoint.STAGED)
        except BaseException:
            for snapshot in staged:
                self.publisher(snapshot.repository).discard(snapshot)
            raise
        return staged

    def settle(self, intent: PublishIntent, landed: bool, path: str) -> None:
        """Steps 4 and 5: publish the staged snapshots if git moved, else drop
        them; then forget the intent. Safe to repeat after a kill anywhere."""
        for snapshot in intent.snapshots:
            if snapshot.repository not in self.repositories:   # left the layout since
                continue
            publisher = self.publisher(snapshot.repository)
            if landed:
                publish(publisher, snapshot)
            else:
                publisher.discard_staged(snapshot.number, snapshot.staging)
                failpoint(Failpoint.DISCARDED)
        if landed:
            failpoint(Failpoint.SETTLED)
        clear_intent(path)

    def manifest_extra(self, action: act.Land) -> dict:
        """Every change the landing brings (a batch brings several), each with
        the commit its branch moves to."""
        tips = {(m.project, m.branch): m.new for m in action.moves}
        return {
            "projects": [{"project": p, "branch": b, "commit": commit}
                         for p, b, commit in action.state if self.builds_from(p, b, action)],
            "changes": [{"project": c.project, "change": c.ref, "revision": c.revision,
                         "commit": tips[(c.project, c.branch)], "item": action.item}
                        for c in action.changes],
        }

    def builds_from(self, project: str, branch: str, action: act.Land) -> bool:
        """The branch of each project a snapshot is built from: the item's own
        branch where the project has it in the state, else the default."""
        keys = {(p, b) for p, b, _ in action.state}
        if (project, action.branch) in keys:
            return branch == action.branch
        return branch == self.config.layout.projects[project].default_branch

    def published_by(self, item: int) -> tuple[tuple[str, int], ...]:
        """Snapshots whose `current` already holds this item's landing (a
        landing retried after a restart must not publish twice)."""
        return tuple((repo, number) for repo in self.repositories
                     for number, items in [self.current_items(repo)] if item in items)

    def current_items(self, repo: str) -> tuple[int, frozenset[int]]:
        """The items the current snapshot added; its manifest (thousands of
        artifacts) is parsed only when `current` moved outside this process."""
        publisher = self.publisher(repo)
        number = publisher.current_number()
        cached = self.landed_items.get(repo)
        if cached is None or cached[0] != number:
            _, manifest = publisher.current()
            items = frozenset(ch.get("item") for ch in (manifest or {}).get("changes", ()))
            cached = self.landed_items[repo] = (number, items)
        return cached

    # -- garbage --------------------------------------------------------------

    def collect_garbage(self, live_builds: Iterable[str], view_roots: Iterable[str]) -> Collected:
        """Remove the pool directories, stored files, sets and fragments that
        nothing reaches any more, over every repository of the layout (one
        store serves them all). `live_builds`: every build of an item still
        in a queue (its exports may yet be seen or published); `view_roots`:
        the $GATEQ_REPOS directory of every build running. Not while a view,
        a staging or an ingestion is being written (see artifacts/gc.py)."""
        repo_dirs = [self.publisher(repo).repo_dir for repo in self.repositories]
        return collect(self.store, repo_dirs, view_roots, live_builds)

    # -- crash recovery -------------------------------------------------------

    def recover(self) -> str | None:
        """With no landing under way (at a start, or resuming after a full
        disk): finish (git moved) or roll back (it did not) an interrupted
        landing, then remove what interrupted work left in every
        repository. What it did, if anything."""
        notes = []
        with phase(RECOVERY):
            finished = self.finish_interrupted()
            if finished:
                notes.append(finished)
            for repo in self.repositories:
                publisher = self.publisher(repo)
                swept = publisher.sweep()
                publisher.prune()
                if swept:
                    notes.append(f"removed what interrupted work left in {publisher.repo_dir}: "
                                 f"{', '.join(swept)}")
        return "; ".join(notes) or None

    def finish_interrupted(self) -> str | None:
        """Settle the landing each intent left names: the one in the state
        directory an older gateq wrote, then those in the publish root
        (written by this host or by another scheduler sharing the root).
        What was done, if anything."""
        paths = [self.legacy_intent, *intents_left(self.config.publish_dir, self.repositories)]
        notes = [note for path in paths if (note := self.settle_left(path))]
        return "; ".join(notes) or None

    def settle_left(self, path: str) -> str | None:
        """Settle the landing the intent at `path` names, if there is one."""
        intent = read_intent(path)
        if intent is None:
            clear_intent(path)        # one killed while being written
            return None
        landed = self.branch_tip(intent) == intent.new
        self.settle(intent, landed, path)
        verb = "finished publishing" if landed else "rolled back the staged snapshots of"
        return f"{verb} item {intent.item} after an interrupted landing"

    def branch_tip(self, intent: PublishIntent) -> str | None:
        try:
            return resolve(self.config.repo_path(intent.project), f"refs/heads/{intent.branch}")
        except GitError:
            return None


def publish(publisher: Publisher, snapshot: IntendedSnapshot) -> None:
    """Step 4 for one repository: number the staging, switch, prune. A
    snapshot `current` already reached was published by an earlier try."""
    if publisher.current_number() < snapshot.number:
        publisher.place(snapshot.number, snapshot.staging)
        failpoint(Failpoint.PLACED)
        publisher.switch_to(snapshot.number)
        failpoint(Failpoint.SWITCHED)
    publisher.prune()
    failpoint(Failpoint.PRUNED)
