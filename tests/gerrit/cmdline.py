"""Gerrit's SSH command line: split the way its sshd splits it, options
parsed with args4j's rules and error messages.

Splitting follows Gerrit's CommandFactoryProvider: blanks separate words
outside quotes; single quotes keep everything literally; double quotes
keep blanks; a backslash outside single quotes takes the next character
literally; empty words vanish. A client that quotes each argument as a
POSIX shell would is therefore understood.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class UsageError(Exception):
    """Printed as `fatal: <message>` with exit status 1, as Gerrit does."""


def split(line: str) -> list[str]:
    words, word = [], []
    single = double = False
    chars = iter(line)
    for char in chars:
        if char in " \t" and not (single or double):
            if word:
                words.append("".join(word))
                word = []
        elif char == '"' and not single:
            double = not double
        elif char == "'" and not double:
            single = not single
        elif char == "\\" and not single:
            word.append(next(chars, "\\"))
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]          # "--message", "-m"
    takes_value: bool = False
    repeat: bool = False

    @property
    def key(self) -> str:
        return self.names[0].lstrip("-")


@dataclass
class Parsed:
    values: dict[str, object] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)

    def flag(self, key: str) -> bool:
        return bool(self.values.get(key))

    def get(self, key: str, default=None):
        return self.values.get(key, default)


def parse(argv: list[str], options: list[Option]) -> Parsed:
    """Options anywhere before `--`; `--name=value` and `--name value` alike."""
    by_name = {name: option for option in options for name in option.names}
    parsed = Parsed()
    words = iter(argv)
    for word in words:
        if word == "--":
            parsed.arguments.extend(words)
            break
        if not word.startswith("-") or word == "-":
            parsed.arguments.append(word)
            continue
        name, has_inline, inline = word.partition("=")
        option = by_name.get(name)
        if option is None:
            raise UsageError(f'"{word}" is not a valid option')
        if not option.takes_value:
            parsed.values[option.key] = True
            continue
        value = inline if has_inline else next(words, None)
        if value is None:
            raise UsageError(f'Option "{option.names[0]}" takes an operand')
        if option.repeat:
            parsed.values.setdefault(option.key, []).append(value)
        else:
            parsed.values[option.key] = value
    return parsed
