"""Which of two rpm versions is newer, as rpm orders them.

Each string is cut into runs of digits and runs of letters (anything else
only separates); runs compare pairwise, numbers as numbers and above
letters; `~` sorts before anything (pre-releases), `^` after the end
(snapshots past a release). Whoever has runs left after a tie is newer.
"""
from __future__ import annotations

import re

_RUN = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version (or release) `a` is older, equal or newer than `b`."""
    if a == b:
        return 0
    left, right = _RUN.findall(a), _RUN.findall(b)
    for x, y in zip(left, right):
        if x != y:
            return _compare_runs(x, y)
    return _compare_tails(left[len(right):], right[len(left):])


def _compare_runs(x: str, y: str) -> int:
    for mark, sign in (("~", -1), ("^", 1)):
        if x == mark or y == mark:
            return sign if x == mark else -sign
    if x.isdigit() != y.isdigit():
        return 1 if x.isdigit() else -1
    if x.isdigit():
        x, y = int(x), int(y)
    return (x > y) - (x < y)


def _compare_tails(left: list[str], right: list[str]) -> int:
    """The runs past the common length: ~ makes older, ^ newer than nothing
    else left, anything else newer."""
    if not left and not right:
        return 0
    rest, sign = (left, 1) if left else (right, -1)
    first = rest[0]
    if first == "~":
        return -sign
    return sign


def compare_evr(a: tuple[str, str, str], b: tuple[str, str, str]) -> int:
    """Compare (epoch, version, release) triples."""
    ea, eb = int(a[0] or 0), int(b[0] or 0)
    if ea != eb:
        return (ea > eb) - (ea < eb)
    return compare(a[1], b[1]) or compare(a[2], b[2])
