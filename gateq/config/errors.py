"""Configuration errors, each pointing at the file and line that caused it.

The YAML reader here keeps the line of every mapping key and list item, so
an error found at a schema path such as ['trigger', 'distgit', 0, 'event']
is reported where the user wrote it, as `FILE:LINE: message`.
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Iterable

import yaml


class ConfigError(Exception):
    """Every problem found in a configuration; `errors` holds one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


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

    def __bool__(self) -> bool:
        return bool(self._found)

    def lines(self) -> list[str]:
        def rank(found: tuple[str, int, str]):
            file, line, _ = found
            return self._files.index(file) if file in self._files else -1, line
        return [f"{file}:{line}: {message}" for file, line, message in sorted(self._found, key=rank)]


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


class MarkedLoader(yaml.SafeLoader):
    """SafeLoader building LineDict and LineList; notes duplicate keys,
    which plain PyYAML would silently overwrite."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, object]] = []


def _construct_map(loader: MarkedLoader, node: yaml.MappingNode):
    data = LineDict()
    yield data
    written = {id(key_node) for key_node, _ in node.value}   # not from a `<<` merge
    seen = set()
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark)
        if id(key_node) in written:
            if key in seen:
                loader.duplicates.append((key_node.start_mark.line + 1, key))
            seen.add(key)
        data[key] = loader.construct_object(value_node)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: MarkedLoader, node: yaml.SequenceNode):
    data = LineList()
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)

UNREADABLE = object()


def read_yaml(path: str, shown: str, errors: Errors) -> object:
    """The document in `path`, or UNREADABLE after recording why."""
    errors.read(shown)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
        errors.add(shown, 1, f"cannot read: {reason}")
        return UNREADABLE
    loader = MarkedLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.add(shown, mark.line + 1 if mark else 1, f"YAML syntax error: {problem}")
        return UNREADABLE
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        errors.add(shown, line, f"duplicate key '{key}'")
    return document


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
