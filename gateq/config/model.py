"""Configuration objects built by the loader and read by the scheduler.

Everything here is frozen and free of I/O: the loader validates YAML with
voluptuous schemas (defaults live there) and only builds these objects.
"""
from __future__ import annotations

import enum
import functools
import os
from dataclasses import dataclass, field
from typing import ClassVar, Mapping


class Manager(enum.Enum):
    DEPENDENT = "dependent"
    INDEPENDENT = "independent"


class MergeMode(enum.Enum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


class SandboxMode(enum.Enum):
    """Whether builds run under bubblewrap (see gateq/sandbox.py)."""
    AUTO = "auto"                        # when bwrap works here, else with a warning
    BWRAP = "bwrap"                      # always; the configuration is invalid without it
    NONE = "none"


class WindowIncrease(enum.Enum):
    """How a window grows when an item lands (Window.increase_type)."""
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class WindowDecrease(enum.Enum):
    """How a window shrinks when an item fails (Window.decrease_type)."""
    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    NONE = "none"


class BatchKind(enum.Enum):
    """Which arriving changes join the batch at the tail of a queue (Pipeline.batch_kind)."""
    ANY = "any"                          # every change, while the batch has room
    SERIES = "series"                    # only a change that needs one of the batch's: a patch series


@dataclass(frozen=True)
class Window:
    """Zuul's window attributes, with Zuul's defaults but one: a failure
    shrinks the window by `decrease_factor` (linear), not by halving it,
    so that a few failures in a row cannot leave workers idle behind a
    window of 3 (docs/configuration.md gives the figures)."""
    initial: int = 20
    floor: int = 3
    ceiling: int | None = None
    increase_type: WindowIncrease = WindowIncrease.LINEAR
    increase_factor: int = 1
    decrease_type: WindowDecrease = WindowDecrease.LINEAR
    decrease_factor: int = 2


Approvals = tuple[tuple[str, int], ...]    # (label, value) pairs, e.g. (("Code-Review", 2),)


@dataclass(frozen=True)
class Trigger:
    """One entry of a pipeline's `trigger:` for a connection. `events` are
    the driver's event names it matches (the git driver's proposed and
    approved; Gerrit's patchset-created, comment-added...), `event` the
    first of them. `branch` and `comment` are regular expressions (searched,
    `re.search`); `approvals` the votes the event must carry."""
    connection: str
    event: str
    events: tuple[str, ...] = ()
    branch: str | None = None
    approvals: Approvals = ()
    comment: str | None = None

    def __post_init__(self) -> None:
        if not self.events:
            object.__setattr__(self, "events", (self.event,))


@dataclass(frozen=True)
class Requirement:
    """A pipeline's `require:` for one connection, checked when a change is
    enqueued and again before it lands. None: not checked. An approval
    {Code-Review: 2} is met by a current vote >= 2 (<= for a negative value)."""
    connection: str
    approvals: Approvals = ()
    open: bool | None = None
    current_patchset: bool | None = None
    wip: bool | None = None


@dataclass(frozen=True)
class Reporter:
    """What a pipeline says on one connection at `start:`, on `success:` or
    on `failure:`: votes, and whether success lands the change (`submit`
    for gerrit, `merge` for git)."""
    connection: str
    labels: Approvals = ()
    submit: bool = False
    merge: bool = False

    @property
    def lands(self) -> bool:
        return self.submit or self.merge


@dataclass(frozen=True)
class QueueSettings:
    """A `queue:` object's attributes; queues without one get the defaults."""
    name: str
    allow_circular_dependencies: bool = False


@dataclass(frozen=True)
class Pipeline:
    name: str
    manager: Manager
    triggers: tuple[Trigger, ...] = ()
    merge_on_success: bool = False       # a success reporter has merge or submit: land it
    window: Window = field(default_factory=Window)
    # True: a failing item's running builds are cancelled at once. False
    # (Zuul's default): its builds, started or not, run to their end, and a
    # failing head leaves the queue only when they have.
    fail_fast: bool = True
    # True (Zuul): an item is merged only once it is inside the window.
    # False: as soon as the item ahead is merged.
    merge_in_window_only: bool = False
    # At most this many changes tested as one item (a batch): a change that
    # arrives while the item at the tail of its queue has started nothing
    # joins it. A batch that fails is split in halves, tested again.
    batch_size: int = 1
    batch_kind: BatchKind = BatchKind.ANY
    # True: a voting job (not an export) that fails on an item fails it only
    # if the same job passes on the item's base (core/blame.py decides).
    excuse_base_failures: bool = False
    requirements: tuple[Requirement, ...] = ()
    start: tuple[Reporter, ...] = ()
    success: tuple[Reporter, ...] = ()
    failure: tuple[Reporter, ...] = ()

    @property
    def dependent(self) -> bool:
        return self.manager is Manager.DEPENDENT


@dataclass(frozen=True)
class Job:
    """A job; `run` is None only for the built-in NOOP, which runs nothing
    and succeeds at once."""
    name: str
    run: str | None                      # absolute path of the script
    timeout: int = 3600
    voting: bool = True
    dependencies: tuple[str, ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict)
    export: str | None = None            # repository its artifacts are published to
    requires: tuple[str, ...] = ()       # repositories it installs from
    # Projects checked out for it beyond its own and those its chain changes (Zuul's name).
    required_projects: tuple[str, ...] = ()
    # Runs of a build on one state before its failure counts (Zuul's name):
    # a failed or timed-out run with attempts left is run again.
    attempts: int = 1
    nodeset: "Nodeset | None" = None     # None: it runs on the gateq host


@dataclass(frozen=True)
class Nodeset:
    """Where a job runs: on any node that has `label` (Zuul's word; one node)."""
    label: str


NOOP = Job("noop", run=None)             # in every layout: Zuul's explicit "land untested"


@dataclass(frozen=True)
class Repository:
    """A repository built from export jobs' artifacts, published inside the gate."""
    name: str
    type: str = "rpm"                    # rpm | files
    keep: int = 10


@dataclass(frozen=True)
class Project:
    name: str
    connection: str
    queue: str | None = None
    default_branch: str = "main"
    merge_mode: MergeMode = MergeMode.MERGE
    pipelines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def queue_name(self) -> str:
        """Projects without a named queue get a queue of their own."""
        return self.queue or self.name


@dataclass(frozen=True)
class Layout:
    pipelines: Mapping[str, Pipeline]
    jobs: Mapping[str, Job]
    projects: Mapping[str, Project]
    queues: frozenset[str] = frozenset()
    repositories: Mapping[str, Repository] = field(default_factory=dict)
    queue_settings: Mapping[str, QueueSettings] = field(default_factory=dict)

    def queue(self, name: str) -> QueueSettings:
        """The queue's settings (the defaults for a project's own queue)."""
        return self.queue_settings.get(name) or QueueSettings(name)

    def queue_projects(self, queue: str) -> tuple[str, ...]:
        """Projects sharing a change queue, in a stable order."""
        return self._queues.get(queue, ((), ()))[0]

    def queue_repositories(self, queue: str) -> tuple[str, ...]:
        """Repositories that jobs of the queue's projects export to: each
        landing in the queue publishes a snapshot of every one of them."""
        return self._queues.get(queue, ((), ()))[1]

    @functools.cached_property
    def _queues(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Per queue, its projects and repositories, worked out once: the
        scheduler asks on every merge and landing."""
        found: dict[str, tuple[list[str], set[str]]] = {}
        for p in self.projects.values():
            projects, repos = found.setdefault(p.queue_name, ([], set()))
            projects.append(p.name)
            repos.update(self.jobs[j].export for jobs in p.pipelines.values() for j in jobs
                         if self.jobs[j].export)
        return {q: (tuple(sorted(ps)), tuple(sorted(rs))) for q, (ps, rs) in found.items()}


@dataclass(frozen=True)
class GitConnection:
    """A `git` connection: local repositories under `root`, which are both
    the system and gateq's copy of it."""
    name: str
    root: str                            # absolute directory
    driver: ClassVar[str] = "git"

    def repo_path(self, project: str) -> str:
        """Project P is ROOT/P.git when that exists, else ROOT/P."""
        bare = os.path.join(self.root, project + ".git")
        return bare if os.path.isdir(bare) else os.path.join(self.root, project)

    def change_url(self, project: str, change: str) -> str | None:
        return None                      # a ref has no page

    @property
    def settings(self) -> Mapping[str, object]:
        return {"driver": self.driver, "root": self.root}


@dataclass(frozen=True)
class RemoteConnection:
    """A connection to a review system elsewhere (gerrit): gateq keeps a
    bare copy of each of its projects under `mirror`, made at start.
    `settings` is the entry as its driver's schema completed it, for the
    driver to build its Connection from (gateq/drivers/registry.py)."""
    name: str
    driver: str
    mirror: str                          # absolute directory
    settings: Mapping[str, object] = field(default_factory=dict)
    web_url: str | None = None

    def repo_path(self, project: str) -> str:
        return os.path.join(self.mirror, project + ".git")

    def change_url(self, project: str, change: str) -> str | None:
        """The change's page, for a change named by its ref or number."""
        from ..drivers.registry import change_url       # the driver knows its URLs
        return change_url(self.driver, self.web_url, project, change)


@dataclass(frozen=True)
class LogRetention:
    """How long build logs and workspaces are kept, and how much output a
    build may write to its log (`logs:` in gateq.yaml)."""
    keep_days: float | None = 30.0       # None: kept whatever their age
    keep_count: int | None = None        # None: however many builds
    max_output: int = 64 * 2**20         # bytes


class AdminAction(enum.Enum):
    """What an admin token may ask of the gate; the same four requests as the CLI."""
    EVENT = "event"
    ENQUEUE = "enqueue"
    DEQUEUE = "dequeue"
    PROMOTE = "promote"


@dataclass(frozen=True)
class WebToken:
    """A bearer token of the admin API, known only by its SHA-256 (hex)."""
    name: str                            # logged with every action it takes
    sha256: str                          # 64 lower-case hex digits
    actions: frozenset[AdminAction] = frozenset()


@dataclass(frozen=True)
class WebSettings:
    """The web service (`web:` in gateq.yaml); `listen` None: not started by `serve`."""
    listen: tuple[str, int] | None = None   # (host, port); port 0: any free port
    allow_remote: bool = False           # listening beyond loopback must be asked for
    max_body: int = 64 * 1024            # bytes a request body may have
    tokens: tuple[WebToken, ...] = ()


@dataclass(frozen=True)
class ZooKeeperSettings:
    """`zookeeper:` in gateq.yaml: with it, the shared state lives there (gateq/zk)."""
    hosts: str                           # as kazoo takes it: host:port,...[/chroot]
    session_timeout: float = 10.0        # seconds
    tls: tuple[str, str, str] | None = None   # (cert, key, ca), absolute paths
    executors: bool = False              # builds run on `gateq executor` processes (zk/executor.py)
    mergers: bool = False                # merges made by `gateq merger` processes (zk/merger.py)
    git_listen: tuple[str, int] = ("127.0.0.1", 0)   # the active scheduler's git daemon; 0: any port
    log_listen: tuple[str, int] = ("127.0.0.1", 0)   # an executor's log server (zk/live_logs.py)


@dataclass(frozen=True)
class NodeSettings:
    """A build node of gateq.yaml's `nodes:`, reached over SSH with its host
    key pinned in `known_hosts`; at most `slots` builds run there at once."""
    name: str
    host: str
    user: str
    sshkey: str                          # absolute paths
    known_hosts: str
    labels: tuple[str, ...]
    port: int = 22
    slots: int = 1
    connect_timeout: float = 10.0        # seconds
    keepalive: float = 15.0              # seconds between "are you there?" and to answer it


@dataclass(frozen=True)
class Config:
    config_dir: str
    path: str                            # the gateq.yaml read
    connections: Mapping[str, GitConnection | RemoteConnection]
    state_dir: str
    slots: int
    layout: Layout
    publish_root: str = ""
    sandbox: SandboxMode = SandboxMode.AUTO
    logs: LogRetention = LogRetention()
    checkpoint_interval: int = 1000      # journal events between checkpoints while busy
    min_free: int = 64 * 1024 * 1024     # bytes free under state_dir for the engine to take work
    warnings: tuple[str, ...] = ()       # one line each: layout files skipped, and why
    web: WebSettings = WebSettings()
    zookeeper: ZooKeeperSettings | None = None    # None: the state is the SQLite state directory
    nodes: tuple[NodeSettings, ...] = ()     # where jobs with a nodeset run

    @property
    def publish_dir(self) -> str:
        return self.publish_root or os.path.join(self.config_dir, "publish")

    def repo_path(self, project: str) -> str:
        return self.connections[self.layout.projects[project].connection].repo_path(project)
