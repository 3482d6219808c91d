"""Published repositories: their snapshots, each manifest, and what changed
between two snapshots (packages added, removed, upgraded, downgraded or
rebuilt; the commits that landed between them).

Read from the publish root as the engine leaves it (gateq/artifacts/
snapshots.py): numbered, complete snapshots and a `current` symlink.
"""
from __future__ import annotations

import json
import os

from ..artifacts.snapshots import MANIFEST, Publisher
from ..config.model import Config
from ..git.repo import GitError, git
from .errors import ApiError
from .rpmversion import compare_evr

MAX_COMMITS = 500          # per project in one diff


def publisher(config: Config, repository: str) -> Publisher:
    spec = config.layout.repositories.get(repository)
    if spec is None:
        raise ApiError(404, f"no repository {repository!r} in the layout")
    return Publisher(config.publish_dir, spec.name, spec.type, spec.keep, store=None)


def overview(config: Config) -> dict:
    """Each repository: its snapshots (newest first), current, and how to install from it."""
    repositories = []
    for name, spec in config.layout.repositories.items():
        pub = publisher(config, name)
        current = pub.current_number()
        snapshots = [snapshot_head(pub, n) for n in reversed(pub.numbers())]
        repositories.append({"name": name, "type": spec.type, "keep": spec.keep,
                             "current": current or None, "path": pub.repo_dir,
                             "install": install_command(name, spec.type, pub.repo_dir),
                             "snapshots": [s for s in snapshots if s]})
    return {"repositories": repositories}


def install_command(name: str, repo_type: str, repo_dir: str) -> str:
    current = os.path.join(repo_dir, "current")
    if repo_type == "rpm":
        return (f"dnf --repofrompath={name},file://{current} --repo={name} "
                "--setopt=gpgcheck=0 install PACKAGE")
    return f"ls {current}  # files, listed in {current}/index.json"


def read_manifest(pub: Publisher, number: int) -> dict | None:
    try:
        with open(os.path.join(pub.path(number), MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def snapshot_head(pub: Publisher, number: int) -> dict | None:
    """A snapshot without its artifacts: number, time, parent, changes, size."""
    manifest = read_manifest(pub, number)
    if manifest is None:
        return None
    return {"snapshot": number, "time": manifest.get("time"), "parent": manifest.get("parent"),
            "changes": manifest.get("changes", []), "projects": manifest.get("projects", []),
            "artifacts": len(manifest.get("artifacts", ())),
            "current": number == pub.current_number()}


def manifest(config: Config, repository: str, number: int) -> dict:
    pub = publisher(config, repository)
    found = read_manifest(pub, number)
    if found is None:
        raise ApiError(404, f"repository {repository}: no snapshot {number} on disk "
                       f"(on disk: {', '.join(map(str, pub.numbers())) or 'none'})")
    return {"repository": repository, "snapshot": number, "manifest": found,
            "current": number == pub.current_number()}


def diff(config: Config, repository: str, old: int, new: int) -> dict:
    """What snapshot `new` holds that `old` did not, and the commits between them."""
    a = manifest(config, repository, old)["manifest"]
    b = manifest(config, repository, new)["manifest"]
    return {"repository": repository, "from": old, "to": new, **package_changes(a, b),
            "commits": commits_between(config, a.get("projects", []), b.get("projects", []))}


def package_key(artifact: dict) -> tuple:
    return (artifact["name"], artifact["arch"]) if "name" in artifact else (artifact["path"],)


def label(artifact: dict) -> str:
    if "name" not in artifact:
        return artifact["path"]
    epoch = "" if artifact.get("epoch") in ("", "0", None) else f"{artifact['epoch']}:"
    return (f"{artifact['name']}-{epoch}{artifact['version']}-{artifact['release']}."
            f"{artifact['arch']}")


def package_changes(a: dict, b: dict) -> dict:
    before = {package_key(x): x for x in a.get("artifacts", ())}
    after = {package_key(x): x for x in b.get("artifacts", ())}
    changes = {"added": [], "removed": [], "upgraded": [], "downgraded": [], "rebuilt": []}
    for key in sorted(after.keys() - before.keys()):
        changes["added"].append(label(after[key]))
    for key in sorted(before.keys() - after.keys()):
        changes["removed"].append(label(before[key]))
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        if old.get("sha256") == new.get("sha256"):
            continue
        order = compare_evr(evr(old), evr(new)) if "name" in old else 0
        kind = "upgraded" if order < 0 else "downgraded" if order > 0 else "rebuilt"
        changes[kind].append({"from": label(old), "to": label(new)})
    return changes


def evr(artifact: dict) -> tuple[str, str, str]:
    return (artifact.get("epoch") or "0", artifact["version"], artifact["release"])


def commits_between(config: Config, old: list[dict], new: list[dict]) -> list[dict]:
    """Per project branch, the commits reachable from the new tip and not the old."""
    tips = {(p["project"], p["branch"]): p["commit"] for p in old}
    found = []
    for p in new:
        if p["project"] not in config.layout.projects:
            continue
        base = tips.get((p["project"], p["branch"]))
        if base == p["commit"]:
            continue
        span = f"{base}..{p['commit']}" if base else p["commit"]
        try:
            out = git(config.repo_path(p["project"]), "log", f"--max-count={MAX_COMMITS}",
                      "--format=%H %s", span)
        except GitError as exc:
            found.append({"project": p["project"], "branch": p["branch"], "error": str(exc)})
            continue
        found.extend({"project": p["project"], "branch": p["branch"], "commit": line[:40],
                      "subject": line[41:]} for line in out.splitlines() if line)
    return found
