"""Showing a job's args and kwargs, and its errors, without their secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "SECRET_KEY", "mask_text", "printable", "redact", "safe_value"]

REDACTED = "***"
"""What a value is replaced with when its key looks like a secret's."""

SECRET_KEY = re.compile(
    r"pass|pwd|token|secret|key|auth|credential|cookie|session|signature|private|cert|dsn|conn",
    re.IGNORECASE,
)
"""Keys whose values are never shown (matched anywhere in the key: ``db_password``, ``apiKey``)."""

# "scheme://user:" starts a URL with a password; the password runs up to the URL's last "@" (it
# may hold "/" or "@"). The lookbehind keeps the search linear on long runs of letters.
_URL_USER = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^:/@\s]*+:", re.IGNORECASE)
_SPACE = re.compile(r"\s")
# Secrets inside text (a repr, a libpq DSN, a query string, a message): ``password=x``,
# ``token='x'``, ``'secret': "x"``. Narrower than SECRET_KEY, since text is full of ``key=``.
# Possessive quantifiers and a lookahead keep the search linear.
_SECRET_NAME = (
    r"(?=[\w.-]*?(?:pass|pwd|secret|token|credential|authorization|"
    r"(?:api|access|private|secret)[_-]?key))[\w.-]++"
)
_QUOTED = r"[bBrRuUfF]{0,2}(?:'(?:[^'\\]++|\\.)*+'?|\"(?:[^\"\\]++|\\.)*+\"?)"
_UNQUOTED = r"[^\s,;&)\]}>]++"
_TEXT_SECRET = re.compile(
    rf"(?<![\w.-])(?P<key>{_SECRET_NAME}\s*+=\s*+)(?:{_QUOTED}|{_UNQUOTED})"
    rf"|(?P<qkey>(?P<quote>['\"]){_SECRET_NAME}(?P=quote)\s*+:\s*+)(?:{_QUOTED}|{_UNQUOTED})",
    re.IGNORECASE,
)
_MAX_DEPTH = 4
_MAX_ITEMS = 50
_MAX_TEXT = 500
# How much of a long text is scanned for secrets before it is cut to _MAX_TEXT: enough for any
# URL that starts before the cut to end inside it.
_SCAN_TEXT = 20_000


def redact(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as JSON-compatible data, with secrets replaced by :data:`REDACTED`.

    Mapping values whose key matches :data:`SECRET_KEY` are replaced, at any depth, and so are
    a named tuple's fields (by field name) and the value of a ``(key, value)`` pair (a header).
    In text, passwords in URLs (``postgresql://user:pw@host``) and ``password=...``-style
    pairs (reprs, DSNs) are hidden (:func:`mask_text`). Deep or long values are cut short.
    """
    if depth >= _MAX_DEPTH:
        return "..."
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a named tuple: by field name
        value = value._asdict()
    if isinstance(value, Mapping):
        items = list(value.items())
        result: dict[str, Any] = {}
        for key, item in items[:_MAX_ITEMS]:
            text = safe_value(key)
            result[text] = REDACTED if SECRET_KEY.search(text) else redact(item, depth + 1)
        if len(items) > _MAX_ITEMS:
            result["..."] = f"{len(items) - _MAX_ITEMS} more"
        return result
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and SECRET_KEY.search(value[0])
    ):
        return [safe_value(value[0]), REDACTED]
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
    """Return a printable, bounded text of ``value`` with its secrets hidden (:func:`mask_text`)."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception as exc:  # a repr that raises must not fail the page
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    # Masked before it is cut: a URL or pair cut in two would no longer be recognised.
    text = mask_text(text[:_SCAN_TEXT], cut=len(text) > _SCAN_TEXT)
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return text


def mask_text(text: str, *, cut: bool = False) -> str:
    """Return ``text``, printable, with URL passwords and ``password=...`` pairs hidden.

    ``cut`` says the text was cut short: a URL at its end whose ``@`` was cut off is hidden too.
    """
    return _TEXT_SECRET.sub(_hide_pair, _mask_urls(printable(text), cut))


def _mask_urls(text: str, cut: bool) -> str:
    parts: list[str] = []
    done = 0
    token_end = last_at = -1
    for match in _URL_USER.finditer(text):
        start, colon = match.span()
        if start < done:  # inside a password already hidden
            continue
        if start >= token_end:
            space = _SPACE.search(text, colon)
            token_end = len(text) if space is None else space.start()
            last_at = text.rfind("@", colon, token_end)
        if last_at >= colon:
            parts.append(text[done:colon] + REDACTED)
            done = last_at
        elif cut and token_end == len(text):
            parts.append(text[done:colon] + REDACTED)
            done = len(text)
    parts.append(text[done:])
    return "".join(parts)


def _hide_pair(match: re.Match[str]) -> str:
    return f"{match['key'] or match['qkey']}{REDACTED}"


def printable(text: str) -> str:
    """Return ``text`` with lone surrogates escaped, so that it encodes as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
