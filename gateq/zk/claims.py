"""Taking a request under an ephemeral claim and reporting its result once,
as executors (builds) and mergers (merges) both do.

A claim is an ephemeral node: it goes with its owner's session, so work
whose owner died is taken by another. A result is written in one
transaction with a check of the claim's version, so only the owner that
holds the claim reports, even when an old owner wakes up late.
"""
from __future__ import annotations

import enum

from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError


class Sent(enum.Enum):
    REPORTED = "reported"
    NOT_OURS = "not ours"          # the claim is gone or another's: the result is dropped
    UNSENT = "unsent"              # ZooKeeper did not answer: keep it, send it again


def take(zk, request: str, claim: str, owner: str) -> tuple[bytes, int] | None:
    """(the request's data, the claim's version), or None: another's, or withdrawn."""
    try:
        zk.create(claim, owner.encode(), ephemeral=True)
    except NodeExistsError:
        return None
    try:
        data, _ = zk.get(request)
        _, stat = zk.get(claim)
    except NoNodeError:                   # withdrawn meanwhile
        release(zk, claim)
        return None
    return data, stat.version


def report(zk, claim: str, version: int, result: str, data: bytes) -> Sent:
    """One transaction: the claim still ours, the result made, the claim gone."""
    tx = zk.transaction()
    tx.check(claim, version)
    tx.create(result, data)
    tx.delete(claim)
    try:
        results = tx.commit()
    except KazooException:
        return Sent.UNSENT
    return Sent.NOT_OURS if any(isinstance(r, Exception) for r in results) else Sent.REPORTED


def release(zk, claim: str) -> None:
    try:
        zk.delete(claim)
    except NoNodeError:
        pass
