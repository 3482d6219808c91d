"""What every handler reads from: the configuration, the store, the clock."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import jinja2
from aiohttp import web

from ..config.model import Config, WebSettings
from .links import change_url_for
from .live import LiveState
from .reader import StateReader
from .recent import Recent

FRESH_SECONDS = 0.5        # how far behind the store a status answer may be


@dataclass
class WebContext:
    config: Config
    reader: StateReader
    live: LiveState
    clock: Callable[[], float] = time.time
    change_url: Callable = field(default=None)
    recent: Recent = field(default_factory=lambda: Recent(FRESH_SECONDS))

    @classmethod
    def of(cls, config: Config) -> "WebContext":
        return cls(config, StateReader(config), LiveState(config),
                   change_url=change_url_for(config))

    def state(self) -> tuple[dict, list[dict]]:
        """The status snapshot and the results, as of at most FRESH_SECONDS ago."""
        return self.recent.get("state", lambda: (self.reader.status(), self.reader.results()))


@dataclass
class Site:
    """What the handlers share: the context, the worker pool, the templates."""
    ctx: WebContext
    settings: WebSettings
    run: Callable[..., Awaitable[Any]]      # run(fn, *args) in a worker thread
    stopping: asyncio.Event                 # set when the service stops: streams end
    metrics: Any                            # metrics.WebMetrics
    templates: jinja2.Environment
    hooks: Any                              # connections.ConnectionHooks

    @property
    def config(self) -> Config:
        return self.ctx.config


SITE = web.AppKey("site", Site)
