"""The merges the active scheduler asks of `gateq merger` processes
(`zookeeper.mergers: true`), in ZooKeeper.

Under /gateq/merges:
- `requests/ITEM-GENERATION`: one per merge asked for (ITEM zero-padded,
  so names sort by the order of arrival, which is the queues' order); its
  data the PrepareMerge;
- `claims/ITEM-GENERATION`: ephemeral, made by the merger doing it; it
  goes with that merger's session, so a merge whose merger died is done by
  another;
- `results/ITEM-GENERATION`: the item's speculative state or why there is
  none, made in one transaction with a check of the claim's version (one
  merger reports), with the new git objects as a thin pack per project
  (compressed; a pack that would not fit under ZooKeeper's node limit is
  left out, and the scheduler then makes that merge itself).
Under /gateq/mergers, `HOST:PID`: each merger's capacity and load.

The commits come from, and go back to, the active scheduler's
repositories: a merger fetches the branches and the commits a merge needs
from the scheduler's git daemon (buildboard's `sources`), and the
scheduler unpacks the result's objects before it journals the merge. The
scheduler deletes a merge's nodes once the merge is journaled. Requests
are bounded by the items in the queues, a few hundred bytes each.
"""
from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field

from ..config.model import MergeMode
from ..core import actions as act
from ..core.codec import change_from, change_plain
from ..core.events import MergeCompleted
from ..core.types import MergeFailure

MERGES = "/gateq/merges"
REQUESTS = f"{MERGES}/requests"
CLAIMS = f"{MERGES}/claims"
RESULTS = f"{MERGES}/results"
MERGERS = "/gateq/mergers"

MAX_PACK_BYTES = 700 * 1024     # compressed objects a result carries, under the 1 MB node limit


def request_name(action: act.PrepareMerge) -> str:
    return f"{action.item:010d}-{action.generation}"


def encode_request(action: act.PrepareMerge) -> bytes:
    return json.dumps({
        "item": action.item, "generation": action.generation,
        "change": change_plain(action.change), "mode": action.mode.value,
        "base": [list(s) for s in action.base], "need": [list(k) for k in action.need],
        "more": [[change_plain(c), m.value] for c, m in action.more]}, sort_keys=True).encode()


def decode_request(data: bytes) -> act.PrepareMerge:
    d = json.loads(data)
    return act.PrepareMerge(
        d["item"], d["generation"], change_from(d["change"]), MergeMode(d["mode"]),
        tuple(tuple(s) for s in d["base"]), tuple(tuple(k) for k in d["need"]),
        tuple((change_from(c), MergeMode(m)) for c, m in d["more"]))


@dataclass(frozen=True)
class MergeOutcome:
    """What a merger made of one request: the state (or the failure), and
    per project the objects the scheduler lacks (`packs`; `unsent`: the
    projects whose pack was too big to send, merged again by the scheduler)."""
    merger: str
    state: tuple = ()
    base_commit: str | None = None
    bases: tuple = ()
    failure: MergeFailure | None = None
    reason: str | None = None
    packs: dict[str, bytes] = field(default_factory=dict)
    unsent: tuple[str, ...] = ()

    def event(self, at: float, action: act.PrepareMerge) -> MergeCompleted:
        return MergeCompleted(at, action.item, action.generation, self.state, self.base_commit,
                              failure=self.failure, reason=self.reason, bases=self.bases)

    def encode(self) -> bytes:
        return zlib.compress(json.dumps({
            "merger": self.merger, "state": [list(s) for s in self.state],
            "base_commit": self.base_commit, "bases": [list(b) for b in self.bases],
            "failure": self.failure.value if self.failure else None, "reason": self.reason,
            "packs": {p: base64.b64encode(data).decode() for p, data in self.packs.items()},
            "unsent": list(self.unsent)}).encode())

    @classmethod
    def decode(cls, data: bytes) -> "MergeOutcome":
        d = json.loads(zlib.decompress(data))
        return cls(d["merger"], tuple(tuple(s) for s in d["state"]), d["base_commit"],
                   tuple(tuple(b) for b in d["bases"]),
                   MergeFailure(d["failure"]) if d["failure"] else None, d["reason"],
                   {p: base64.b64decode(v) for p, v in d["packs"].items()}, tuple(d["unsent"]))


@dataclass(frozen=True)
class MergerInfo:
    """What a merger advertises: merges at once, and how many it is doing."""
    name: str
    slots: int
    running: int

    def encode(self) -> bytes:
        return json.dumps({"slots": self.slots, "running": self.running}).encode()

    @classmethod
    def decode(cls, name: str, data: bytes) -> "MergerInfo":
        d = json.loads(data)
        return cls(name, int(d["slots"]), int(d["running"]))
