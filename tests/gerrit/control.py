"""The stand-in's control channel: JSON lines on a TCP port of 127.0.0.1,
one request {"op", "args"} and one answer {"ok", "result" | "error"} per
line. Tests drive the stand-in through it (tests/gerrit/standin.py), and
so does the proc-receive hook (`receive`). Every op is in OPS below."""
from __future__ import annotations

import json
import logging
import socketserver
from dataclasses import asdict

from . import actions, changes, query, receive, repos
from .cmdline import parse
from .model import Account, Project, SubmitType
from .site import Refused, Site

log = logging.getLogger("gerrit-standin")


def add_account(site: Site, username: str, name: str, email: str, keys: list[str],
                can_push: bool = False) -> None:
    with site.changing() as state:
        state.accounts[username] = Account(username, name, email, keys, can_push)


def create_project(site: Site, name: str, head: str = "main", files: dict | None = None,
                   submit_type: str = "MERGE_IF_NECESSARY") -> str:
    """A bare repository with one commit on `head`; returns that commit."""
    with site.changing() as state:
        if name in state.projects:
            raise Refused(f"project {name} already exists")
        repo = site.repo(name)
        repos.init_bare(repo, head)
        tree = repos.write_tree(repo, None, files or {"README": f"{name}\n"})
        commit = repos.commit_tree(repo, tree, [], "Initial commit\n",
                                   ("Gerrit Code Review", "gerrit@localhost"))
        repos.update_ref(repo, "refs/heads/" + head, commit)
        state.projects[name] = Project(name, head, SubmitType(submit_type))
        return commit


def commit(site: Site, project: str, parents: list[str], files: dict, message: str,
           author: list[str], base: str | None = None) -> str:
    """A commit of `base`'s tree (default: the first parent's) with `files` changed."""
    repo = site.repo(project)
    tree = repos.write_tree(repo, base or (parents[0] if parents else None), files)
    return repos.commit_tree(repo, tree, parents, message, tuple(author))


def upload(site: Site, project: str, branch: str, revision: str, user: str,
           topic: str | None = None, wip: bool | None = None) -> list[dict]:
    return [asdict(u) for u in changes.upload(site, project, branch, revision, user, topic, wip)]


def move_branch(site: Site, project: str, branch: str, revision: str, user: str) -> list[int]:
    """Move a branch directly (as a push outside gateq would); returns the
    changes this closed."""
    repo, ref = site.repo(project), "refs/heads/" + branch
    with site.project_lock(project):
        old = repos.resolve(repo, ref) or repos.ZERO
        repos.update_ref(repo, ref, revision, old)
        return changes.branch_moved(site, project, ref, old, revision, user)


def delete_branch(site: Site, project: str, branch: str, user: str) -> None:
    """Delete a branch directly (as an administrator would)."""
    repo, ref = site.repo(project), "refs/heads/" + branch
    with site.project_lock(project):
        old = repos.resolve(repo, ref)
        if old is None:
            raise Refused(f"branch {branch} not found")
        repos.git(repo, "update-ref", "-d", ref, old)
        changes.branch_moved(site, project, ref, old, repos.ZERO, user)


def change(site: Site, number: int) -> dict:
    """The change as `gerrit query` prints it with every option, plus its messages."""
    with site.lock:
        opts = parse(["--current-patch-set", "--all-approvals", "--dependencies",
                      "--submit-records", "--commit-message", "--comments"], query.OPTIONS)
        return query.render(site.state, site.change(number), opts)


def numbers(site: Site, text: str) -> list[int]:
    """Numbers of the changes a query matches, newest first."""
    with site.lock:
        predicate, _ = query.Parser(text).parse()
        found = [c for c in site.state.changes.values() if predicate(site.state, c)]
    return [c.number for c in sorted(found, key=lambda c: (c.updated_on, c.updated_seq),
                                     reverse=True)]


def set_knobs(site: Site, hold: dict | None = None, refuse_connections: bool | None = None,
              hold_matching: dict | None = None) -> None:
    if hold is not None:
        site.knobs.hold = {k: float(v) for k, v in hold.items()}
    if hold_matching is not None:
        site.knobs.hold_matching = {k: float(v) for k, v in hold_matching.items()}
    if refuse_connections is not None:
        site.knobs.refuse_connections = refuse_connections


def configure(site: Site, **settings) -> None:
    with site.changing() as state:
        for name, value in settings.items():
            if name not in ("version", "web_url", "query_limit", "labels"):
                raise Refused(f"no setting {name}")
            setattr(state, name, value)


def batch(site: Site, ops: list[dict]) -> list:
    """Several ops under one lock and one save (for benchmarks)."""
    with site.changing():
        return [dispatch(site, op) for op in ops]


OPS = {
    "ping": lambda site: {"ok": True},
    "add_account": add_account,
    "create_project": create_project,
    "commit": commit,
    "upload": upload,
    "receive": lambda site, **kw: asdict(receive.receive(site, **kw)),
    "review": lambda site, user, number, patchset, labels=None, message=None, tag=None:
        actions.review(site, user, number, patchset, labels or {}, message, tag),
    "abandon": lambda site, user, number, reason="": actions.abandon(site, user, number, reason),
    "restore": lambda site, user, number, reason="": actions.restore(site, user, number, reason),
    "set_wip": lambda site, user, number, wip: actions.set_wip(site, user, number, wip),
    "submit": lambda site, user, number, patchset: actions.submit(site, user, number, patchset),
    "move_branch": move_branch,
    "delete_branch": delete_branch,
    "branch_tip": lambda site, project, branch: repos.resolve(site.repo(project),
                                                             "refs/heads/" + branch),
    "change": change,
    "numbers": lambda site, query: numbers(site, query),
    "reviews": lambda site: [asdict(r) for r in site.state.reviews],
    "drop_streams": lambda site: site.bus.drop_all(),
    "inject": lambda site, line: site.bus.publish_raw(line),
    "stream_count": lambda site: site.bus.count(),
    "connections": lambda site: site.count_connections(),
    "set_knobs": set_knobs,
    "configure": configure,
    "batch": batch,
}


def dispatch(site: Site, request: dict):
    op = OPS.get(request.get("op"))
    if op is None:
        raise Refused(f"no op {request.get('op')!r}")
    return op(site, **request.get("args", {}))


def serve(site: Site) -> socketserver.ThreadingTCPServer:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                self.wfile.write(json.dumps(answer(site, line)).encode() + b"\n")
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def answer(site: Site, line: bytes) -> dict:
    try:
        return {"ok": True, "result": dispatch(site, json.loads(line))}
    except (Refused, repos.GitFailed, query.QueryError) as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:      # a stand-in bug: report it to the test, keep serving
        log.exception("control request failed")
        return {"ok": False, "error": f"stand-in error: {type(exc).__name__}: {exc}"}
