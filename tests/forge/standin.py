"""A forge stand-in for tests: an aiohttp server on 127.0.0.1 answering
the handful of REST calls gateq's forge drivers make, in the flavour of
GitHub (/api/v3), Gitea/Forgejo (/api/v1) or GitLab (/api/v4), with real
bare git repositories behind it (git-url file://ROOT/repos), so pushes are
real git. A pull request is merged when its head commit reaches its base
branch, as the forges do after a push; the API answers in pages of
`page_size` so pagination is exercised.

    with ForgeStandIn(tmp_path / "forge", "gitea") as forge:
        forge.make_project("rpms/nova")
        pr = forge.open_pull("rpms/nova", {"a.txt": "1"}, "Add a", labels=["gate"])
"""
from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode

from aiohttp import web

GIT_ENV = {"GIT_AUTHOR_NAME": "Forge User", "GIT_AUTHOR_EMAIL": "user@forge.test",
           "GIT_COMMITTER_NAME": "Forge User", "GIT_COMMITTER_EMAIL": "user@forge.test"}
TOKEN = "forge-token-0123456789"
API = {"github": "/api/v3/repos/", "gitea": "/api/v1/repos/", "gitlab": "/api/v4/projects/"}


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


@dataclass
class Pull:
    project: str
    number: int
    base: str
    head_branch: str
    title: str
    body: str = ""
    labels: list = field(default_factory=list)
    closed: bool = False
    draft: bool = False


class ForgeStandIn:
    def __init__(self, root, flavour: str, page_size: int = 2) -> None:
        self.root, self.flavour, self.page_size = str(root), flavour, page_size
        self.repos = os.path.join(self.root, "repos")
        self.work = os.path.join(self.root, "work")
        os.makedirs(self.repos, exist_ok=True)
        os.makedirs(self.work, exist_ok=True)
        self.pulls: dict[tuple[str, int], Pull] = {}
        self.reviews = defaultdict(list)        # (project, number) -> [(user, STATE)]
        self.statuses = defaultdict(list)       # (project, sha) -> [body]
        self.comments = defaultdict(list)       # (project, number) -> [text]
        self.calls: list[tuple[str, str]] = []  # (method, path) as asked
        self.git_calls: list[tuple[str, str, bool]] = []    # (method, path, authorised)
        self.lock = threading.Lock()
        self.url = ""

    # -- the server -------------------------------------------------------------

    def __enter__(self) -> "ForgeStandIn":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        started = threading.Event()
        self.loop = asyncio.new_event_loop()

        async def serve():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self.answer)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            started.set()

        def run():
            self.loop.run_until_complete(serve())
            self.loop.run_forever()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10), "the forge stand-in did not start"
        return self.url

    def stop(self) -> None:
        """Every socket closed, as a forge that went away (idempotent)."""
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def git_url(self) -> str:
        return "file://" + self.repos

    # -- git --------------------------------------------------------------------

    def bare(self, project: str) -> str:
        return os.path.join(self.repos, project + ".git")

    def make_project(self, project: str) -> None:
        os.makedirs(os.path.dirname(self.bare(project)), exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", self.bare(project), cwd=self.root)
        work = os.path.join(self.work, project)
        git("clone", "-q", self.bare(project), work, cwd=self.root)
        git("checkout", "-q", "-b", "main", cwd=work)
        self._commit(work, {"README": project + "\n"}, "Initial import")
        git("push", "-q", "origin", "main", cwd=work)

    def _commit(self, work: str, files: dict, message: str) -> str:
        for name, text in files.items():
            path = os.path.join(work, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def head_ref(self, number: int) -> str:
        return (f"refs/merge-requests/{number}/head" if self.flavour == "gitlab"
                else f"refs/pull/{number}/head")

    def open_pull(self, project: str, files: dict, title: str, body: str = "",
                  base: str = "main", labels=(), draft: bool = False) -> int:
        """A contributor's branch pushed, and a pull request of it for `base`."""
        number = 1 + max([n for (p, n) in self.pulls if p == project], default=0)
        branch = f"topic-{number}"
        work = os.path.join(self.work, project)
        git("fetch", "-q", "origin", cwd=work)
        git("checkout", "-q", "-B", branch, f"origin/{base}", cwd=work)
        self._commit(work, files, title)
        git("push", "-q", "-f", "origin", f"{branch}:{self.head_ref(number)}", cwd=work)
        with self.lock:
            self.pulls[(project, number)] = Pull(project, number, base, branch, title, body,
                                                 list(labels), draft=draft)
        return number

    def push_head(self, project: str, number: int, files: dict) -> str:
        """A new revision of the pull request (GitHub's synchronize)."""
        work = os.path.join(self.work, project)
        git("checkout", "-q", self.pulls[(project, number)].head_branch, cwd=work)
        sha = self._commit(work, files, f"Update {number}")
        git("push", "-q", "-f", "origin", f"HEAD:{self.head_ref(number)}", cwd=work)
        return sha

    def tip(self, project: str, branch: str = "main") -> str | None:
        out = subprocess.run(["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                             cwd=self.bare(project), capture_output=True, text=True).stdout.strip()
        return out or None

    def head(self, project: str, number: int) -> str:
        return git("rev-parse", self.head_ref(number), cwd=self.bare(project))

    def merged(self, project: str, number: int) -> bool:
        """The head reached the base branch (how a push merges a pull request)."""
        pull = self.pulls[(project, number)]
        tip = self.tip(project, pull.base)
        return tip is not None and subprocess.run(
            ["git", "merge-base", "--is-ancestor", self.head(project, number), tip],
            cwd=self.bare(project)).returncode == 0

    def state(self, project: str, number: int) -> str:
        if self.merged(project, number):
            return "merged"
        return "closed" if self.pulls[(project, number)].closed else "open"

    # -- JSON as each forge shows it -------------------------------------------

    def web_url(self, project: str, number: int) -> str:
        kind = {"github": "pull", "gitea": "pulls", "gitlab": "-/merge_requests"}[self.flavour]
        return f"{self.url}/{project}/{kind}/{number}"

    def pull_json(self, project: str, number: int) -> dict:
        pull, state = self.pulls[(project, number)], self.state(project, number)
        head = self.head(project, number)
        if self.flavour == "gitlab":
            return {"iid": number, "state": {"open": "opened"}.get(state, state),
                    "title": pull.title, "description": pull.body, "draft": pull.draft,
                    "sha": head, "source_branch": pull.head_branch, "target_branch": pull.base,
                    "labels": list(pull.labels), "web_url": self.web_url(project, number)}
        return {"number": number, "state": "open" if state == "open" else "closed",
                "merged": state == "merged", "title": pull.title, "body": pull.body,
                "draft": pull.draft, "html_url": self.web_url(project, number),
                "head": {"sha": head, "ref": pull.head_branch},
                "base": {"ref": pull.base}, "labels": [{"name": n} for n in pull.labels]}

    # -- the API ----------------------------------------------------------------

    def authorised(self, request: web.Request) -> bool:
        wanted = {"github": ("Authorization", f"Bearer {TOKEN}"),
                  "gitea": ("Authorization", f"token {TOKEN}"),
                  "gitlab": ("PRIVATE-TOKEN", TOKEN)}[self.flavour]
        return request.headers.get(wanted[0]) == wanted[1]

    async def answer(self, request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        if path.startswith("/git/"):
            return await self.git_http(request, path[len("/git"):], query)
        body = await request.json() if request.can_read_body else None
        with self.lock:
            self.calls.append((request.method, path))
        if not self.authorised(request):
            return web.json_response({"message": "Bad credentials"}, status=401)
        prefix = API[self.flavour]
        if not path.startswith(prefix):
            return web.json_response({"message": "Not Found"}, status=404)
        rest = path[len(prefix):]
        if self.flavour == "gitlab":
            project, _, rest = rest.partition("/")
            project = unquote(project)
        else:
            parts = rest.split("/", 2)
            project, rest = "/".join(parts[:2]), (parts[2] if len(parts) > 2 else "")
        if not os.path.isdir(self.bare(project)):
            return web.json_response({"message": "Not Found"}, status=404)
        with self.lock:
            return self.route(request.method, project, unquote(rest), dict(parse_qsl(query)),
                              body, path)

    def route(self, method, project, rest, query, body, path) -> web.Response:
        for pattern, handler in (
                (r"(pulls|merge_requests)", self.list_pulls),
                (r"(?:pulls|merge_requests)/(\d+)", self.get_pull),
                (r"pulls/(\d+)/reviews", self.get_reviews),
                (r"merge_requests/(\d+)/approvals", self.get_reviews),
                (r"(?:repository/)?branches/(.+)", self.get_branch),
                (r"statuses/([0-9a-f]{40})", self.post_status),
                (r"(?:issues/(\d+)/comments|merge_requests/(\d+)/notes)", self.comment)):
            match = re.fullmatch(pattern, rest)
            if match:
                return handler(method, project, [g for g in match.groups() if g], query, body, path)
        return web.json_response({"message": f"no such endpoint {rest}"}, status=404)

    def list_pulls(self, method, project, groups, query, body, path):
        wanted = "opened" if self.flavour == "gitlab" else "open"
        numbers = sorted(n for (p, n) in self.pulls if p == project
                         and query.get("state") == wanted and self.state(p, n) == "open")
        page = int(query.get("page", "1"))
        chunk = numbers[(page - 1) * self.page_size: page * self.page_size]
        headers = {}
        more = page * self.page_size < len(numbers)
        if self.flavour == "gitlab":
            headers["X-Next-Page"] = str(page + 1) if more else ""
        elif more:
            nxt = urlencode({**query, "page": page + 1})
            headers["Link"] = f'<{self.url}{path}?{nxt}>; rel="next", <{self.url}{path}>; rel="first"'
        return web.json_response([self.pull_json(project, n) for n in chunk], headers=headers)

    def get_pull(self, method, project, groups, query, body, path):
        key = (project, int(groups[0]))
        if key not in self.pulls:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response(self.pull_json(*key))

    def get_reviews(self, method, project, groups, query, body, path):
        reviews = self.reviews[(project, int(groups[0]))]
        if self.flavour == "gitlab":
            by = [{"user": {"username": u}} for u, s in reviews if s == "APPROVED"]
            return web.json_response({"approved": bool(by), "approved_by": by})
        return web.json_response([{"user": {"login": u}, "state": s} for u, s in reviews])

    def get_branch(self, method, project, groups, query, body, path):
        tip = self.tip(project, groups[0])
        if tip is None:
            return web.json_response({"message": "Branch Not Found"}, status=404)
        commit = {"sha": tip} if self.flavour == "github" else {"id": tip}
        return web.json_response({"name": groups[0], "commit": commit})

    def post_status(self, method, project, groups, query, body, path):
        if method != "POST":
            return web.json_response({"message": "Method Not Allowed"}, status=405)
        self.statuses[(project, groups[0])].append(body)
        return web.json_response(body, status=201)

    def comment(self, method, project, groups, query, body, path):
        key = (project, int(groups[0]))
        if method == "POST":
            self.comments[key].append(body["body"])
            return web.json_response({"body": body["body"]}, status=201)
        return web.json_response([{"body": text} for text in self.comments[key]])

    # -- git over HTTP, as the forges serve it ---------------------------------

    @property
    def http_git_url(self) -> str:
        return self.url + "/git"

    def git_authorised(self, request: web.Request) -> bool:
        """Basic auth whose password is the token, whatever the user (as forges take it)."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            password = base64.b64decode(value).decode().partition(":")[2]
        except ValueError:
            return False
        return scheme == "Basic" and password == TOKEN

    async def git_http(self, request: web.Request, path: str, query: str) -> web.Response:
        """git's smart HTTP, by `git http-backend` (CGI) over the bare repositories."""
        with self.lock:
            self.git_calls.append((request.method, request.raw_path,
                                   self.git_authorised(request)))
        if not self.git_authorised(request):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="forge"'})
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": self.repos,
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": request.method, "REMOTE_USER": "gateq", "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_TYPE": request.headers.get("Content-Type", ""),
               "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
               "GIT_HTTP_MAX_REQUEST_BUFFER": "100M", **GIT_ENV}
        body = await request.read()
        proc = await asyncio.create_subprocess_exec(
            "git", "http-backend", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = await proc.communicate(body)
        head, _, content = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
        status = int(headers.pop("Status", "200").split()[0])
        return web.Response(status=status, body=content, headers=headers)
