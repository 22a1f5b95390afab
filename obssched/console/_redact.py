"""Showing a job's args and kwargs without its secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "SECRET_KEY", "printable", "redact", "safe_value"]

REDACTED = "***"
"""What a value is replaced with when its key looks like a secret's."""

SECRET_KEY = re.compile(
    r"pass|pwd|token|secret|key|auth|credential|cookie|session|signature|private|cert|dsn|conn",
    re.IGNORECASE,
)
"""Keys whose values are never shown (matched anywhere in the key: ``db_password``, ``apiKey``)."""

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@", re.I)
_MAX_DEPTH = 4
_MAX_ITEMS = 50
_MAX_TEXT = 500


def redact(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as JSON-compatible data, with secrets replaced by :data:`REDACTED`.

    Mapping values whose key matches :data:`SECRET_KEY` are replaced, at any depth; passwords
    in URLs (``postgresql://user:pw@host``) are too. Deep or long values are cut short.
    """
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, Mapping):
        items = list(value.items())
        result: dict[str, Any] = {}
        for key, item in items[:_MAX_ITEMS]:
            text = safe_value(key)
            result[text] = REDACTED if SECRET_KEY.search(text) else redact(item, depth + 1)
        if len(items) > _MAX_ITEMS:
            result["..."] = f"{len(items) - _MAX_ITEMS} more"
        return result
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out = [redact(item, depth + 1) for item in seq[:_MAX_ITEMS]]
        if len(seq) > _MAX_ITEMS:
            out.append(f"... {len(seq) - _MAX_ITEMS} more")
        return out
    if value is None or isinstance(value, bool | int | float):
        return value
    return safe_value(value)


def safe_value(value: Any) -> str:
    """Return a printable, bounded text of ``value`` with URL passwords hidden."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception as exc:  # a repr that raises must not fail the page
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{REDACTED}@", text)


def printable(text: str) -> str:
    """Return ``text`` with lone surrogates escaped, so that it encodes as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
