"""Jinja2 templates (gateq/web/templates), autoescaped, with the filters pages use."""
from __future__ import annotations

import time

import jinja2


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("gateq.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(duration=duration, clock=clock, short=lambda sha: (sha or "")[:12])
    return env


def duration(seconds: float | None) -> str:
    """1h 02m, 3m 05s, 42s; an em dash when unknown."""
    if seconds is None:
        return "\u2014"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def clock(at: float | None) -> str:
    """An epoch time as YYYY-MM-DD HH:MM:SS UTC."""
    if at is None:
        return "\u2014"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
