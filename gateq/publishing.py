"""Artifacts around the gate, for the engine: views, exports, publication.

- Before a build: materialise `$GATEQ_REPOS/<repository>` for it (the
  published snapshot plus the export builds the scheduler says it sees).
- After an export build: validate and store what it wrote, or fail it.
- At the head: stage a snapshot of every repository of the queue, land the
  git change, then switch `current`. An intent file written between staging
  and landing lets the next start finish or roll back a landing that a
  crash interrupted, so the published repositories and git always agree.
- Now and then: collect what no snapshot, view or live build reaches.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Iterable

from .artifacts.gc import Collected, collect
from .artifacts.snapshots import Publisher
from .artifacts.store import ArtifactStore, RejectedArtifact
from .artifacts.view import materialise
from .config.model import Config
from .core import actions as act
from .git.repo import GitError, resolve

INTENT = "publish-intent.json"


def failpoint(name: str) -> None:
    """Die here when GATEQ_FAILPOINT names this point: how tests kill the
    engine at an exact step (as `kill -9` would, without cleanup)."""
    if os.environ.get("GATEQ_FAILPOINT") == name:
        os._exit(137)


class Artifacts:
    def __init__(self, config: Config):
        self.config = config
        self.repositories = config.layout.repositories
        self.store = ArtifactStore(os.path.join(config.state_dir, "cas"))
        self.intent_path = os.path.join(config.state_dir, INTENT)
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

    # -- landing --------------------------------------------------------------

    def land(self, action: act.Land, do_land: Callable[[], tuple[bool, str | None]]
             ) -> tuple[bool, str | None, tuple[tuple[str, int], ...]]:
        if not action.publish:
            ok, reason = do_land()
            return ok, reason, ()
        done = self.published_by(action.item)
        if done:                      # a retried landing that already published
            ok, reason = do_land()
            return ok, reason, done
        staged = [(repo, self.publisher(repo).stage(
            [self.store.load(b) for b in builds], self.manifest_extra(action)))
            for repo, builds in action.publish]
        self.write_intent(action, staged)
        ok, reason = do_land()
        failpoint("after-land")
        self.settle([(repo, s.number) for repo, s in staged], ok)
        if ok:
            self.landed_items.update((repo, (s.number, frozenset({action.item}))) for repo, s in staged)
        return ok, reason, tuple((repo, s.number) for repo, s in staged) if ok else ()

    def settle(self, staged: list[tuple[str, int]], landed: bool) -> None:
        """Switch `current` to the staged snapshots if git moved, else drop them."""
        for repo, number in staged:
            publisher = self.publisher(repo)
            if landed:
                publisher.switch_to(number)
                publisher.prune()
            else:
                publisher.discard_number(number)
        self.clear_intent()

    def manifest_extra(self, action: act.Land) -> dict:
        c = action.change
        return {
            "projects": [{"project": p, "branch": b, "commit": commit}
                         for p, b, commit in action.state if self.builds_from(p, b, action)],
            "changes": [{"project": c.project, "change": c.ref, "revision": c.revision,
                         "commit": action.new, "item": action.item}],
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

    def write_intent(self, action: act.Land, staged) -> None:
        intent = {"item": action.item, "project": action.project, "branch": action.branch,
                  "new": action.new, "staged": [[repo, s.number, s.path] for repo, s in staged],
                  "time": time.time()}
        tmp = self.intent_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(intent, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.intent_path)

    def clear_intent(self) -> None:
        if os.path.exists(self.intent_path):
            os.unlink(self.intent_path)

    def recover(self) -> str | None:
        """Finish (git moved) or roll back (it did not) an interrupted landing."""
        if not os.path.exists(self.intent_path):
            return None
        with open(self.intent_path) as f:
            intent = json.load(f)
        try:
            tip = resolve(self.config.repo_path(intent["project"]), f"refs/heads/{intent['branch']}")
        except GitError:
            tip = None
        landed = tip == intent["new"]
        self.settle([(repo, number) for repo, number, _ in intent["staged"]], landed)
        verb = "finished publishing" if landed else "rolled back the staged snapshots of"
        return f"{verb} item {intent['item']} after an interrupted landing"
