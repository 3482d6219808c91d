"""Zuul's adaptive window: how many items of a queue may run jobs.

It grows when an item lands and shrinks when one fails, within the floor
and the ceiling of the pipeline's Window settings.
"""
from __future__ import annotations

from ..config.model import Window, WindowDecrease, WindowIncrease


def grow(size: int, w: Window) -> int:
    if WindowIncrease(w.increase_type) is WindowIncrease.EXPONENTIAL:
        size *= w.increase_factor
    else:
        size += w.increase_factor
    return size if w.ceiling is None else min(size, w.ceiling)


def shrink(size: int, w: Window) -> int:
    kind = WindowDecrease(w.decrease_type)
    if kind is WindowDecrease.EXPONENTIAL:
        size //= w.decrease_factor
    elif kind is WindowDecrease.LINEAR:
        size -= w.decrease_factor
    return max(size, w.floor)
