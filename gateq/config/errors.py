"""Configuration errors, each pointing at the file and line that caused it.

The YAML reader (reader.py) keeps the line of every mapping key and list
item, so an error found at a schema path such as
['trigger', 'distgit', 0, 'event'] is reported where the user wrote it, as
`FILE:LINE: message`, always on one line whatever the user wrote.
"""
from __future__ import annotations

import reprlib
from collections.abc import Hashable
from typing import Iterable


class ConfigError(Exception):
    """Every problem found in a configuration; `errors` holds one line each,
    `warnings` the layout files skipped (as Config.warnings would)."""

    def __init__(self, errors: list[str], warnings: tuple[str, ...] = ()):
        super().__init__("\n".join(errors))
        self.errors = list(errors)
        self.warnings = tuple(warnings)


class Errors:
    """Collects errors across files so that all are reported at once.

    Files are ranked in the order they were read, so the report follows the
    configuration (gateq.yaml, then layouts by name) and lines within a file.
    """

    def __init__(self) -> None:
        self._files: list[str] = []
        self._found: dict[tuple[str, int, str], None] = {}   # in the order found

    def read(self, file: str) -> None:
        self._files.append(file)

    def add(self, file: str, line: int, message: str) -> None:
        self._found[(file, line, message)] = None

    def __len__(self) -> int:
        return len(self._found)

    def lines(self) -> list[str]:
        def rank(found: tuple[str, int, str]):
            file, line, _ = found
            return self._files.index(file) if file in self._files else -1, line
        return [one_line(f"{file}:{line}: {message}")
                for file, line, message in sorted(self._found, key=rank)]


def one_line(text: str) -> str:
    """`text` with any character that is not printable (a newline, a NUL)
    escaped, so that an error is always exactly one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 8
_SHORT.maxlevel = 3


def shown(value: object) -> str:
    """`repr(value)` cut short: a value in a message can be as long as its file."""
    return _SHORT.repr(value)


def quote(value: object) -> str:
    """A name or key the user wrote, as 'name' when that reads unambiguously."""
    if isinstance(value, str) and value.isprintable() and "'" not in value and len(value) <= 120:
        return f"'{value}'"
    return shown(value)


class LineDict(dict):
    """A YAML mapping that remembers the line of each of its keys."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict = {}


class LineList(list):
    """A YAML sequence that remembers the line of each of its items."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []


def line_at(node: object, path: Iterable, line: int) -> int:
    """The line of the deepest key or item of `path` found in `node`.

    Missing steps (a required key left out) keep the line reached so far,
    which the caller starts at the line of the object being checked.
    """
    for step in path:
        if isinstance(node, LineDict) and isinstance(step, Hashable) and step in node:
            line, node = node.key_lines.get(step, line), node[step]
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line, node = node.item_lines[step], node[step]
        else:
            break
    return line
