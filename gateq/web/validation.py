"""Voluptuous schemas for what clients send: query strings and JSON bodies.

A refusal names the parameter or field and what was wrong, on one line,
as a 400. Strings are checked by the configuration's own `text` (no NUL,
no lone surrogate), since they become refs, names and paths.
"""
from __future__ import annotations

import json

from voluptuous import Invalid, MultipleInvalid, Schema

from ..config.errors import quote, shown
from ..config.values import text
from .errors import ApiError

MAX_TEXT = 1000


def short_text(value):
    """A non-empty string of at most MAX_TEXT characters."""
    text(value)
    if "\ufffd" in value:
        raise Invalid("holds U+FFFD: bytes that were not UTF-8")
    if len(value) > MAX_TEXT:
        raise Invalid(f"longer than {MAX_TEXT} characters")
    return value


def integer(low: int, high: int):
    """A decimal integer between `low` and `high`, as a query gives it (a string)."""
    def check(value):
        if not isinstance(value, str) or not value.isascii() or not value.isdigit() \
                or len(value) > 12 or not low <= int(value) <= high:
            raise Invalid(f"expected an integer from {low} to {high}, got {shown(value)}")
        return int(value)
    return check


def one_of(values):
    def check(value):
        if value not in values:
            raise Invalid(f"expected one of {', '.join(values)}, got {shown(value)}")
        return value
    return check


def first_error(exc: MultipleInvalid, where: str) -> str:
    error = exc.errors[0]
    path = ".".join(str(p) for p in error.path)
    if error.msg == "extra keys not allowed":
        return f"unknown {where} {quote(path)}"
    if error.msg.startswith("required key not provided"):
        return f"missing {where} {quote(path)}"
    return f"{where} {quote(path)}: {error.msg}" if path else f"{where}s: {error.msg}"


def parse_query(query, schema: dict) -> dict:
    """The query string through `schema`; a parameter given twice is refused."""
    keys = [key for key, _ in query.items()]
    for key in keys:
        if keys.count(key) > 1:
            raise ApiError(400, f"query parameter {quote(key)} is given more than once")
    try:
        return Schema(schema)(dict(query.items()))
    except MultipleInvalid as exc:
        raise ApiError(400, first_error(exc, "query parameter")) from None


def parse_json_body(raw: bytes, schema: dict) -> dict:
    """A JSON object, strict (no NaN, no duplicate keys), through `schema`."""
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates,
                           parse_constant=no_constants)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(value).__name__}")
    try:
        return Schema(schema)(value)
    except MultipleInvalid as exc:
        raise ApiError(400, first_error(exc, "field")) from None


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"key {quote(key)} appears twice")
    return dict(pairs)


def no_constants(name):
    raise ValueError(f"{name} is not a number JSON allows")


