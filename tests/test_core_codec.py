"""Journal rows decode to the events they were, including rows older gateq
wrote: before merge failures had kinds, a failed merge was `conflict: REASON`."""
import json

import pytest

from gateq.core import codec
from gateq.core import events as ev
from gateq.core.types import Change, JobResult, MergeFailure


@pytest.mark.parametrize("event", [
    ev.MergeCompleted(1.0, 3, 0, (("nova", "main", "abc"),), "tip"),
    ev.MergeCompleted(2.0, 3, 1, failure=MergeFailure.CONFLICT, reason="merge conflict in nova: README"),
    ev.MergeCompleted(2.0, 3, 1, failure=MergeFailure.CHANGE_MISSING, reason="no commit 1234"),
    ev.MergeCompleted(2.0, 3, 1, failure=MergeFailure.BRANCH_MISSING, reason="no branch stable"),
    ev.BuildCompleted(3.0, "3-1-unit", JobResult.TIMED_OUT, "killed after 60 s"),
    ev.EnqueueRequested(4.0, "gate", Change("nova", "fix", "main", "abc", frozenset({"abc", "def"}))),
    ev.LandCompleted(5.0, 3, 1, True, "abc", None, (("rdo", 4),)),
])
def test_events_survive_the_journal(event):
    assert codec.decode(codec.encode(event)) == event


def test_a_conflict_as_older_gateq_wrote_it_decodes_as_a_conflict():
    old = {"type": "MergeCompleted", "at": 2.0, "item": 3, "generation": 1, "state": [],
           "base_commit": None, "conflict": "merge conflict in nova: README"}
    assert codec.decode(json.dumps(old)) == ev.MergeCompleted(
        2.0, 3, 1, failure=MergeFailure.CONFLICT, reason="merge conflict in nova: README")


def test_a_successful_merge_as_older_gateq_wrote_it_decodes():
    old = {"type": "MergeCompleted", "at": 2.0, "item": 3, "generation": 1,
           "state": [["nova", "main", "abc"]], "base_commit": "tip", "conflict": None}
    assert codec.decode(json.dumps(old)) == ev.MergeCompleted(2.0, 3, 1, (("nova", "main", "abc"),), "tip")
