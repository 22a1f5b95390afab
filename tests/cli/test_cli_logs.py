"""The command's log handlers: one line per record on the terminal when asked, everything in
full in a log file."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from obssched.cli._logs import TEXT_FORMAT, OneLineFormatter, make_handlers


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own (not in the logging tree), its handlers closed at the end."""
    log = logging.Logger("obssched.test", logging.DEBUG)
    yield log
    for handler in log.handlers:
        handler.close()


def log_failure(log: logging.Logger) -> None:
    """Log an error with its exception, as executors do for a failed job."""
    try:
        raise ValueError("rates service\nunreachable")
    except ValueError:
        log.exception('Job "fetch_rates" raised an exception')


def test_one_line_formatter_puts_the_exception_on_the_line() -> None:
    """An exception becomes its type and message at the end of the record's only line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter())
    log = logging.Logger("obssched.test")
    log.addHandler(handler)
    log_failure(log)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        'Job "fetch_rates" raised an exception: ValueError: rates service unreachable'
    )


def test_one_line_formatter_leaves_a_record_without_exception_as_it_is() -> None:
    """A record without an exception is formatted as the plain text format does."""
    record = logging.LogRecord(
        "obssched.test", logging.INFO, __file__, 1, "ran %s", ("ping",), None
    )
    assert OneLineFormatter().format(record) == logging.Formatter(TEXT_FORMAT).format(record)


def test_the_terminal_gets_one_line_and_the_file_the_traceback(
    logger: logging.Logger, tmp_path: Path
) -> None:
    """With a log file and no tracebacks, the terminal has one line, the file the traceback."""
    terminal = io.StringIO()
    log_file = tmp_path / "demo.log"
    for handler in make_handlers(
        "INFO", "text", stream=terminal, log_file=log_file, tracebacks=False
    ):
        logger.addHandler(handler)
    log_failure(logger)
    assert terminal.getvalue().count("\n") == 1
    assert "Traceback" not in terminal.getvalue()
    assert "Traceback (most recent call last)" in log_file.read_text()


def test_the_terminal_level_holds_back_what_the_file_keeps(
    logger: logging.Logger, tmp_path: Path
) -> None:
    """Records below the terminal's level reach the log file only."""
    terminal = io.StringIO()
    log_file = tmp_path / "demo.log"
    handlers = make_handlers(
        "INFO", "text", stream=terminal, log_file=log_file, terminal_level="WARNING"
    )
    for handler in handlers:
        logger.addHandler(handler)
    logger.info("Running job ping")
    logger.warning("Run time of job late_reminder was missed")
    assert "Running job ping" not in terminal.getvalue()
    assert "was missed" in terminal.getvalue()
    assert "Running job ping" in log_file.read_text()


def test_the_terminal_never_shows_less_severe_records_than_the_level(
    logger: logging.Logger,
) -> None:
    """A terminal level below the log level does not let more through."""
    terminal = io.StringIO()
    for handler in make_handlers("ERROR", "text", stream=terminal, terminal_level="INFO"):
        logger.addHandler(handler)
    logger.warning("not shown")
    assert terminal.getvalue() == ""


def test_json_logs_keep_the_traceback_inside_the_one_line(logger: logging.Logger) -> None:
    """In JSON each record is one object per line, its traceback a field of it."""
    terminal = io.StringIO()
    for handler in make_handlers("INFO", "json", stream=terminal, tracebacks=False):
        logger.addHandler(handler)
    log_failure(logger)
    (line,) = terminal.getvalue().splitlines()
    assert "Traceback" in json.loads(line)["exception"]
