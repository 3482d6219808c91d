"""Command lines for Gerrit's SSH daemon, which splits words itself (no
shell): blanks separate words, single quotes keep everything literally, a
backslash outside them escapes one character, and empty words vanish.

Quoting each word POSIX-style (`'it'\\''s'`) is understood exactly, with
newlines and any Unicode kept. An empty word cannot be expressed at all,
so it is refused rather than silently shifting the words after it.
"""
from __future__ import annotations

import re
from typing import Sequence

_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")


def quote(word: str) -> str:
    if word == "":
        raise ValueError("an empty argument cannot be sent to Gerrit (its sshd drops empty words)")
    if _PLAIN.match(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def command_line(argv: Sequence[str]) -> str:
    return " ".join(quote(word) for word in argv)


def shown(argv: Sequence[str], limit: int = 80) -> str:
    """A command for a one-line message: newlines escaped, long ones cut."""
    line = command_line(argv).replace("\n", "\\n")
    return line if len(line) <= limit else line[:limit - 3] + "..."
