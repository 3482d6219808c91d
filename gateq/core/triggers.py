"""Whether a code-review event matches a pipeline's trigger (Zuul's rules).

An event matches a trigger of its connection when its kind is one of the
trigger's events, the change's branch matches `branch`, it carries every
vote of `approvals` with exactly that value, and what the reviewer wrote
matches `comment`. Patterns are searched (`re.search`), as Zuul does.
"""
from __future__ import annotations

import functools
import re

from ..config.model import Pipeline, Trigger
from .events import TriggerEvent


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern:
    return re.compile(text)


def matches(trigger: Trigger, event: TriggerEvent) -> bool:
    if trigger.connection != event.connection or event.kind not in trigger.events:
        return False
    if trigger.branch is not None and not _pattern(trigger.branch).search(event.change.branch):
        return False
    if any(vote not in event.approvals for vote in trigger.approvals):
        return False
    return trigger.comment is None or (
        event.comment is not None and _pattern(trigger.comment).search(event.comment) is not None)


def triggered(pipeline: Pipeline, event: TriggerEvent) -> bool:
    return any(matches(t, event) for t in pipeline.triggers)
