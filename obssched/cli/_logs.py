"""Logging to stderr: readable lines by default, one JSON object per line for machines; and for
the demo, a log file with every record in full while the terminal gets one line each."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = ["TEXT_FORMAT", "JsonFormatter", "OneLineFormatter", "make_handlers", "setup_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line (without the newline)."""
        entry: dict[str, Any] = {
            # The record's own timestamp, taken by logging; no clock is read here.
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class OneLineFormatter(logging.Formatter):
    """Formats a record as one line of :data:`TEXT_FORMAT`, an exception as its type and message
    at the end of the line instead of its traceback."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Return the record on one line."""
        if not record.exc_info or record.exc_info[1] is None:
            return super().format(record)
        exc = record.exc_info[1]
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        # A copy: the other handlers format the same record with its traceback.
        brief = logging.makeLogRecord(record.__dict__)
        brief.msg, brief.args = f"{record.getMessage()}: {detail}", None
        brief.exc_info = brief.exc_text = None
        return super().format(brief)


def make_handlers(
    level: str,
    log_format: str,
    *,
    stream: TextIO | None = None,
    log_file: Path | None = None,
    terminal_level: str | None = None,
    tracebacks: bool = True,
) -> list[logging.Handler]:
    """Return the handlers :func:`setup_logging` installs.

    Args:
        level: the least severe level logged (to the file, and to the terminal by default).
        log_format: ``text`` or ``json``, for the terminal and the file.
        stream: the terminal (default: stderr).
        log_file: a file that gets every record of ``level`` and above in full (truncated first).
        terminal_level: a more severe level for the terminal than for the file.
        tracebacks: whether the terminal shows tracebacks (else one line per record, in text).

    Raises:
        OSError: ``log_file`` cannot be opened.
    """
    terminal = logging.StreamHandler(sys.stderr if stream is None else stream)
    if log_format == "json":
        terminal.setFormatter(JsonFormatter())
    elif tracebacks:
        terminal.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        terminal.setFormatter(OneLineFormatter())
    levels = [logging.getLevelName(level), logging.getLevelName(terminal_level or level)]
    terminal.setLevel(max(levels))
    handlers: list[logging.Handler] = [terminal]
    if log_file is not None:
        file = logging.FileHandler(log_file, mode="w", encoding="utf-8")
        file.setFormatter(
            JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
        )
        file.setLevel(level)
        handlers.append(file)
    return handlers


def setup_logging(
    level: str,
    log_format: str,
    *,
    log_file: Path | None = None,
    terminal_level: str | None = None,
    tracebacks: bool = True,
) -> None:
    """Send every log record of ``level`` and above to stderr in ``log_format`` (and to
    ``log_file``; see :func:`make_handlers`).

    Raises:
        OSError: ``log_file`` cannot be opened.
    """
    handlers = make_handlers(
        level,
        log_format,
        log_file=log_file,
        terminal_level=terminal_level,
        tracebacks=tracebacks,
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
        if isinstance(existing, logging.FileHandler):
            existing.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
