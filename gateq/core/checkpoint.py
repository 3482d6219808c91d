"""What an idle gate must remember: the item counter and the windows.

When every queue is empty the journal can be cut here, so replay after a
restart costs the work since the last idle moment, not the whole history.
"""
from __future__ import annotations

from .state import ChangeQueue, PipelineState, State


def save(state: State) -> dict:
    return {"next_item": state.next_item,
            "windows": {p.name: {q.name: q.window for q in p.queues.values()}
                        for p in state.pipelines.values()}}


def load(data: dict | None) -> State:
    state = State()
    if data:
        state.next_item = data["next_item"]
        for pipeline, queues in data["windows"].items():
            pstate = state.pipelines.setdefault(pipeline, PipelineState(pipeline))
            for name, window in queues.items():
                pstate.queues[name] = ChangeQueue(name, window)
    return state
