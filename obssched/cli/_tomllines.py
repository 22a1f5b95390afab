"""Where each key of a TOML file is set: ``tomllib`` gives values but no line numbers.

The file has already parsed, so this scanner only needs to follow strings, comments and
brackets well enough to tell a key's line from a line inside a value.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["KeyPath", "key_lines"]

KeyPath = tuple[str | int, ...]
"""``("scheduler", "heartbeat")``, ``("jobs", 2, "seconds")``: job tables count from 1."""

_KEY: Final = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY_LINE: Final = re.compile(rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*=")
_HEADER: Final = re.compile(rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?")
_PART: Final = re.compile(_KEY)


def _parts(dotted: str) -> list[str]:
    return [part.strip("\"'") for part in _PART.findall(dotted)]


class _Scanner:
    """Tracks whether the text so far leaves us inside a multi-line string or bracket."""

    def __init__(self) -> None:
        self.depth = 0
        self.open_string: str | None = None

    def feed(self, line: str) -> None:
        index, length = 0, len(line)
        while index < length:
            if self.open_string is not None:
                end = line.find(self.open_string, index)
                if end < 0:
                    return
                index = end + len(self.open_string)
                self.open_string = None
                continue
            char = line[index]
            if char == "#":
                return
            if line.startswith(('"""', "'''"), index):
                self.open_string = line[index : index + 3]
                index += 3
            elif char in "\"'":
                index = self._skip_string(line, index, char)
            elif char in "[{":
                self.depth += 1
                index += 1
            elif char in "]}":
                self.depth = max(0, self.depth - 1)
                index += 1
            else:
                index += 1

    @staticmethod
    def _skip_string(line: str, start: int, quote: str) -> int:
        index = start + 1
        while index < len(line):
            if quote == '"' and line[index] == "\\":
                index += 2
                continue
            if line[index] == quote:
                return index + 1
            index += 1
        return index


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map each table and key path to the line (from 1) that first sets it."""
    found: dict[KeyPath, int] = {}
    scanner = _Scanner()
    current: KeyPath = ()
    jobs = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if scanner.open_string is None and scanner.depth == 0:
            header = _HEADER.match(line)
            key = None if header else _KEY_LINE.match(line)
            if header is not None:
                brackets, dotted = header.groups()
                parts = _parts(dotted)
                if brackets == "[[" and parts == ["jobs"]:
                    jobs += 1
                    current = ("jobs", jobs)
                elif parts[0] == "jobs" and jobs:
                    current = ("jobs", jobs, *parts[1:])
                else:
                    current = tuple(parts)
                for size in range(1, len(current) + 1):
                    found.setdefault(current[:size], number)
                line = line[header.end() :]
            elif key is not None:
                path = (*current, *_parts(key.group(1)))
                for size in range(len(current) + 1, len(path) + 1):
                    found.setdefault(path[:size], number)
                line = line[key.end() :]
        scanner.feed(line)
    return found
