"""What every handler reads from: the configuration, the store, the clock."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..config.model import Config
from .links import change_url_for
from .live import LiveState
from .reader import StateReader


@dataclass
class WebContext:
    config: Config
    reader: StateReader
    live: LiveState
    clock: Callable[[], float] = time.time
    change_url: Callable = field(default=None)

    @classmethod
    def of(cls, config: Config) -> "WebContext":
        return cls(config, StateReader(config.state_dir), LiveState(config),
                   change_url=change_url_for(config))
