"""Zuul's adaptive window: how many items of a queue may run jobs.

It grows when an item lands and shrinks when one fails, within the floor
and the ceiling of the pipeline's Window settings.
"""
from __future__ import annotations

from ..config.model import Window


def grow(size: int, w: Window) -> int:
    if w.increase_type == "exponential":
        size *= w.increase_factor
    else:
        size += w.increase_factor
    return size if w.ceiling is None else min(size, w.ceiling)


def shrink(size: int, w: Window) -> int:
    if w.decrease_type == "exponential":
        size //= w.decrease_factor
    elif w.decrease_type == "linear":
        size -= w.decrease_factor
    return max(size, w.floor)
