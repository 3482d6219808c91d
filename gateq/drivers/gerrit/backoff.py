"""Exponential backoff with jitter, capped: how long to wait before the
next reconnection attempt after each consecutive failure."""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays grow `initial`, `initial`*`factor`, ... up to `maximum`; each
    is then shortened by a random fraction of up to `jitter`, so clients
    that failed together do not all come back at the same moment."""
    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return ceiling * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.failures = 0
