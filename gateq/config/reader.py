"""Read one YAML configuration file, with line numbers, or say in one line why not.

This is the only place PyYAML runs, so every way it can fail is caught
here: files too large, bytes that are not UTF-8, characters YAML refuses,
collections nested deep enough to exhaust Python's stack, aliases that
expand to billions of values (or to themselves), and values its
constructors cannot build. Each limit is checked before the work it bounds.
"""
from __future__ import annotations

from collections.abc import Hashable

import yaml

from .errors import Errors, LineDict, LineList, quote

MAX_BYTES = 256 * 1024       # about 100 times the shipped layouts (see docs/configuration.md)
MAX_DEPTH = 50               # layouts nest about 8 deep
MAX_VALUES = 100_000         # counting each alias as the values it repeats

UNREADABLE = object()


class Refused(yaml.YAMLError):
    """A limit of this reader, reported like PyYAML's own errors."""

    def __init__(self, problem: str, line: int):
        super().__init__(problem)
        self.problem, self.line = problem, line


class MarkedLoader(yaml.SafeLoader):
    """SafeLoader building LineDict and LineList, refusing deep nesting as it
    composes; notes duplicate keys, which plain PyYAML silently overwrites."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, object]] = []
        self.depth = 0

    def compose_node(self, parent, index):
        if self.depth == MAX_DEPTH:
            raise Refused(f"YAML nested more than {MAX_DEPTH} levels deep",
                          self.peek_event().start_mark.line + 1)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def fetch_flow_collection_start(self, TokenClass):
        """Refuse deep flow nesting (`[[[[...`) in the scanner already: its
        look-ahead for a possible key grows with the nesting."""
        if self.flow_level == MAX_DEPTH:
            raise Refused(f"YAML nested more than {MAX_DEPTH} levels deep", self.get_mark().line + 1)
        super().fetch_flow_collection_start(TokenClass)

    def construct_object(self, node, deep=False):
        """PyYAML's constructors raise plain Python errors for an impossible
        date, an integer too long to convert or a tag applied to a value it
        does not fit (`!!bool maybe`): give those the line of their value."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise Refused(f"cannot read a value: {exc}", node.start_mark.line + 1) from None
        except (TypeError, KeyError, IndexError, AttributeError):
            raise Refused(f"cannot read a value as {node.tag}", node.start_mark.line + 1) from None


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


def expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded.

    Aliases are shared nodes, so this counts each node once (memoised) and
    raises Refused at the first node past MAX_VALUES, or at a collection
    that contains itself. Recursion is bounded by MAX_DEPTH.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise Refused("an alias refers to the collection that holds it",
                          node.start_mark.line + 1)
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        else:
            total = 1
        if total > MAX_VALUES:
            raise Refused(f"more than {MAX_VALUES} values once aliases are expanded",
                          node.start_mark.line + 1)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total
    return size(root)


def read_text(path: str) -> str:
    """The file's text; Refused when too large or not UTF-8. Reads at most
    MAX_BYTES + 1 bytes whatever the file claims to hold."""
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            size = max(len(data), f.seek(0, 2))
            raise Refused(f"too large for a configuration file: {size} bytes "
                          f"(the limit is {MAX_BYTES})", 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                      data[:exc.start].count(b"\n") + 1) from None


def parse(text: str) -> tuple[object, list[tuple[int, object]]]:
    """The document and its duplicate keys; raises yaml.YAMLError (Refused included)."""
    loader = MarkedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        expanded_size(node)
        return loader.construct_document(node), loader.duplicates
    finally:
        loader.dispose()


def error_line(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    if isinstance(exc, Refused):
        return exc.line, exc.problem
    if isinstance(exc, yaml.reader.ReaderError):
        what = "a NUL byte" if exc.character == 0 else f"character U+{exc.character:04X}"
        return text.count("\n", 0, exc.position) + 1, f"{what} is not allowed in YAML"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):     # "expected a single document ..."
        problem = f"{context}, {problem}"
    return (mark.line + 1 if mark else 1), f"YAML syntax error: {problem}"


def read_yaml(path: str, shown: str, errors: Errors) -> object:
    """The document in `path`, or UNREADABLE after recording why."""
    errors.read(shown)
    text = ""
    try:
        text = read_text(path)
        document, duplicates = parse(text)
    except OSError as exc:
        errors.add(shown, 1, f"cannot read: {exc.strerror or exc}")
        return UNREADABLE
    except yaml.YAMLError as exc:
        errors.add(shown, *error_line(exc, text))
        return UNREADABLE
    for line, key in duplicates:
        errors.add(shown, line, f"duplicate key {quote(key)}")
    return document
