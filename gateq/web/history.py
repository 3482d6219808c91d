"""The results history: finished items, newest first, filtered and paginated."""
from __future__ import annotations

from typing import Sequence

from voluptuous import Optional

from ..core.types import ItemResult, same_ref
from .validation import integer, one_of, short_text

PER_PAGE = 50
MAX_PER_PAGE = 500
RESULTS = tuple(r.value for r in ItemResult)
FILTERS = ("project", "change", "pipeline", "result")

QUERY = {
    Optional("project"): short_text,
    Optional("change"): short_text,        # a ref, as written: fix-1 or refs/heads/fix-1
    Optional("pipeline"): short_text,
    Optional("result"): one_of(RESULTS),
    Optional("page", default="1"): integer(1, 10**9),
    Optional("per-page", default=str(PER_PAGE)): integer(1, MAX_PER_PAGE),
}


def matches(record: dict, query: dict) -> bool:
    if "change" in query and not same_ref(record["change"], query["change"]):
        return False
    return all(record.get(key) == query[key] for key in ("project", "pipeline", "result")
               if key in query)


def history(results: Sequence[dict], query: dict) -> dict:
    """One page of the matching results, newest first, and how many there are."""
    found = [r for r in reversed(results) if matches(r, query)]
    per_page, page = query["per-page"], query["page"]
    pages = max(1, -(-len(found) // per_page))
    return {"results": found[(page - 1) * per_page: page * per_page], "total": len(found),
            "page": page, "pages": pages, "per_page": per_page,
            "filters": {k: query[k] for k in FILTERS if k in query}}
