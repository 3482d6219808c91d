"""Validators for single values: small functions with messages a user understands.

Each takes what YAML produced and returns it converted (an enum, an
absolute path, a number of bytes) or raises voluptuous.Invalid. Every
string accepted passes through `string`, which refuses NUL bytes: strings
end up in environment variables, paths and command lines, where a NUL
cannot go (nor a lone surrogate, which has no encoding).
"""
from __future__ import annotations

import math
import os
import re

from voluptuous import All, Invalid, MultipleInvalid, Schema

from .errors import quote, shown

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
MAX_NAME = 100
NAME_RULE = (f"letters, digits, '.', '_' and '-', starting with a letter or digit, "
             f"at most {MAX_NAME} characters")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_ENV_BYTES = 128 * 1024      # Linux's MAX_ARG_STRLEN, for NAME=value and its NUL
SIZE = re.compile(r"([0-9]+)([KMG]?)\Z")
SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
SURROGATE = re.compile("[\ud800-\udfff]")


def string(value):
    """A string that can become an environment variable, a path or an
    argument: no NUL, and no lone surrogate (YAML's "\\ud800"), which has
    no encoding at all."""
    if isinstance(value, str) and "\0" in value:
        raise Invalid("contains a NUL byte")
    if isinstance(value, str) and SURROGATE.search(value):
        raise Invalid("contains a lone surrogate (\\ud800-\\udfff), which is not a character")
    return value


def text(value):
    if not isinstance(value, str) or not value:
        raise Invalid(f"expected a non-empty string, got {shown(value)}")
    return string(value)


def name(kind: str):
    """A name that may become a file name: see NAME_RULE."""
    def check(value):
        text(value)
        if len(value) > MAX_NAME or not NAME.match(value):
            raise Invalid(f"not a valid {kind} name ({NAME_RULE})")
        return value
    return check


def project_name(value):
    """Names as `name` checks them, joined by '/': a path inside a connection root."""
    text(value)
    if len(value) > MAX_NAME or not all(NAME.match(part) for part in value.split("/")):
        raise Invalid(f"not a valid project name ({NAME_RULE}; '/' may join several such names)")
    return value


def flag(value):
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {shown(value)}")
    return value


def count(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"expected an integer >= 1, got {shown(value)}")
    return value


def days(value):
    """A positive, finite number of days (fractions allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < math.inf:
        raise Invalid(f"expected a number of days > 0 or null, got {shown(value)}")
    return float(value)


def size(value):
    """A number of bytes: an integer, or a string such as 64M (powers of 1024)."""
    match = SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if match and int(match.group(1)) >= 1:
        return int(match.group(1)) * SIZE_UNITS[match.group(2)]
    raise Invalid("expected a number of bytes, or a size such as 64M (suffix K, M or G), "
                  f"got {shown(value)}")


HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")
LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})\Z")


def sha256_hex(value):
    """A SHA-256 digest as 64 hex digits, returned in lower case."""
    if not isinstance(value, str) or not HEX64.match(value):
        hint = " (quote it: YAML read it as a number)" if isinstance(value, (int, float)) else ""
        raise Invalid(f"expected a SHA-256 digest in 64 hex digits, got {shown(value)}{hint}")
    return value.lower()


def listen_address(value):
    """HOST:PORT (an IPv6 host in brackets) as (host, port); port 0: any free one."""
    match = LISTEN.match(value) if isinstance(value, str) else None
    if not match or int(match.group(2)) > 65535:
        raise Invalid(f"expected HOST:PORT such as 127.0.0.1:8080 or [::1]:8080, got {shown(value)}")
    return match.group(1).strip("[]"), int(match.group(2))


def env_value(value):
    """Job vars become environment variables; YAML booleans read as shells expect."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return string(str(value))
    raise Invalid(f"expected a string, number or boolean, got {shown(value)}")


def env_name(value):
    if not isinstance(value, str) or not ENV_NAME.match(value):
        raise Invalid(f"not a valid environment variable name: {shown(value)}")
    return value


def env_vars(values):
    """NAME: value pairs, each short enough for execve to accept."""
    checked = Schema({env_name: env_value})(values)
    errors = [Invalid(f"longer than the {MAX_ENV_BYTES} bytes Linux allows for one "
                      "environment variable", path=[key])
              for key, value in checked.items()
              if len(key.encode()) + len(value.encode()) + 2 > MAX_ENV_BYTES]
    if errors:
        raise MultipleInvalid(errors)
    return checked


def choice(values, convert=None):
    """One of `values` (strings), returned through `convert` (an enum class)."""
    def check(value):
        if not isinstance(value, str) or value not in values:
            raise Invalid(f"expected one of {', '.join(values)}, got {shown(value)}")
        return convert(value) if convert else value
    return check


def enum_choice(enum):
    return choice(tuple(member.value for member in enum), enum)


def maybe(validator):
    """None, or a value `validator` accepts."""
    return lambda value: None if value is None else validator(value)


class Unknown(Invalid):
    """A reference to a name nothing defines; its message says it all."""


def known(kind: str, names, where: str | None = None):
    """A name that some `kind` object defines (any name, if `names` is None)."""
    def check(value):
        text(value)
        if names is not None and value not in names:
            raise Unknown(f"unknown {kind} {quote(value)}" + (f" in {where}" if where else ""))
        return value
    return check


def each(item):
    """A list of `item`s, every error of every item reported: voluptuous's
    own [item] stops at the first item with an error inside it."""
    validate = Schema(item)

    def check(values):
        if not isinstance(values, list):
            raise Invalid("expected a list")
        checked, errors = [], []
        for index, value in enumerate(values):
            try:
                checked.append(validate(value))
            except MultipleInvalid as exc:
                for error in exc.errors:
                    error.prepend([index])
                    errors.append(error)
        if errors:
            raise MultipleInvalid(errors)
        return checked
    return check


def unique(item):
    """A list of `item`s in which no value appears twice."""
    def check(values):
        errors = [Invalid(f"{quote(value)} is listed twice", path=[index])
                  for index, value in enumerate(values) if value in values[:index]]
        if errors:
            raise MultipleInvalid(errors)
        return values
    return All(each(item), check)


def named(key, value):
    """A mapping from names (checked by `key`) to values (checked by `value`),
    every error reported: voluptuous would call a bad name an unknown key."""
    validate = Schema(value)

    def check(mapping):
        if not isinstance(mapping, dict):
            raise Invalid("expected a dictionary")
        checked, errors = {}, []
        for k, v in mapping.items():
            try:
                key(k)
            except Invalid as exc:
                errors.append(Invalid(exc.msg, path=[k]))
            try:
                checked[k] = validate(v)
            except MultipleInvalid as exc:
                for error in exc.errors:
                    error.prepend([k])
                    errors.append(error)
        if errors:
            raise MultipleInvalid(errors)
        return checked
    check.each_value = value   # what each name holds, for tools reading the schema
    return check


def named_by(key, value_for):
    """Like `named`, with each value checked by `value_for(name)`'s schema
    (None: taken as it is, the name's own errors being reported elsewhere)."""
    schemas: dict[str, Schema] = {}

    def check(mapping):
        if not isinstance(mapping, dict):
            raise Invalid("expected a dictionary")
        checked, errors = {}, []
        for k, v in mapping.items():
            try:
                key(k)
                schema = value_for(k)
            except Invalid as exc:
                errors.append(type(exc)(exc.msg, path=[k]))
                continue
            if schema is None:
                checked[k] = v
                continue
            try:
                checked[k] = schemas.setdefault(k, Schema(schema))(v)
            except MultipleInvalid as exc:
                for error in exc.errors:
                    error.prepend([k])
                    errors.append(error)
        if errors:
            raise MultipleInvalid(errors)
        return checked
    return check


def one_or_list(item):
    """One value or a list of them, as a list (Zuul's `event: X` or `event: [X, Y]`)."""
    listed = unique(item)
    return lambda value: listed(value if isinstance(value, list) else [value])


def regex(value):
    """A regular expression, as Python's re reads it (returned as written)."""
    text(value)
    try:
        re.compile(value)
    except re.error as exc:
        raise Invalid(f"not a valid regular expression: {exc}") from None
    return value


LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


def vote(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected a vote such as 2 or -1, got {shown(value)}")
    return value


def label(value):
    if not isinstance(value, str) or not LABEL.match(value):
        raise Invalid(f"not a valid label name: {shown(value)}")
    return value


def approvals(value):
    """[{Code-Review: 2}, {Workflow: 1}] (or one such mapping) as
    ((label, value), ...), in order, each label once."""
    entries = value if isinstance(value, list) else [value]
    found: list[tuple[str, int]] = []
    errors = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry:
            errors.append(Invalid(f"expected a label and its vote such as {{Code-Review: 2}}, "
                                  f"got {shown(entry)}", path=[index]))
            continue
        for name, given in entry.items():
            try:
                pair = (label(name), vote(given))
            except Invalid as exc:
                errors.append(Invalid(exc.msg, path=[index, name]))
                continue
            if any(seen == name for seen, _ in found):
                errors.append(Invalid(f"label {quote(name)} is listed twice", path=[index, name]))
            found.append(pair)
    if errors:
        raise MultipleInvalid(errors)
    return tuple(found)


def nonempty(what: str):
    def check(mapping):
        if not mapping:
            raise Invalid(f"at least one {what} is required")
        return mapping
    return check


# -- paths, relative to the configuration directory -----------------------

def shown_path(config_dir: str, path: str) -> str:
    """`path` as the user most likely wrote it: relative when inside config_dir."""
    relative = os.path.relpath(path, config_dir)
    return path if relative == ".." or relative.startswith("../") else relative


def in_dir(config_dir: str):
    """A path relative to the configuration directory, made absolute."""
    return lambda value: os.path.normpath(os.path.join(config_dir, text(value)))


def existing_dir(config_dir: str):
    """A directory that exists (connection roots: gateq reads and lands there)."""
    def check(value):
        path = in_dir(config_dir)(value)
        if not os.path.exists(path):
            raise Invalid(f"directory {quote(value)} does not exist")
        if not os.path.isdir(path):
            raise Invalid(f"{quote(value)} is not a directory")
        return path
    return check


def writable_dir(config_dir: str):
    """A directory gateq may create and write: it, or its nearest existing
    parent, is a writable directory. Creating it is the engine's job."""
    def check(value):
        path = in_dir(config_dir)(value)
        existing = path
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        where = "" if existing == path else \
            f"{quote(shown_path(config_dir, path))} cannot be created: "
        what = quote(shown_path(config_dir, existing))
        if os.path.islink(existing) and not os.path.exists(existing):
            raise Invalid(f"{where}{what} is a broken symbolic link")
        if not os.path.isdir(existing):
            raise Invalid(f"{where}{what} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise Invalid(f"{where}{what} is not writable")
        return path
    return check


def script(config_dir: str):
    """An executable file relative to the configuration directory, made absolute."""
    def check(value):
        path = in_dir(config_dir)(value)
        if not os.path.exists(path):
            raise Invalid(f"script {quote(value)} does not exist")
        if not os.path.isfile(path):
            raise Invalid(f"script {quote(value)} is not a file")
        if not os.access(path, os.X_OK):
            raise Invalid(f"script {quote(value)} is not executable")
        return path
    return check
