"""The CLI's exit codes and the error that carries one to ``main()``."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CliError", "ExitCode", "exit_codes_help"]


class ExitCode(IntEnum):
    """How an ``obssched`` command ended; each kind of failure has its own code.

    ``obssched --help`` lists them with what each means (:func:`exit_codes_help`).
    """

    OK = 0
    FAILURE = 1
    USAGE = 2
    INVALID_JOBS_FILE = 3
    PORT_IN_USE = 4
    STORE_UNAVAILABLE = 5
    JOB_NOT_FOUND = 6
    SHUTDOWN_TIMEOUT = 7
    INTERRUPTED = 130


def exit_codes_help() -> str:
    """Return the table of exit codes for ``--help`` epilogs."""
    lines = ["exit codes:"]
    lines.extend(f"  {code.value:<4} {_DESCRIPTIONS[code]}" for code in ExitCode)
    return "\n".join(lines)


_DESCRIPTIONS = {
    ExitCode.OK: "ok; run/demo: stopped by SIGTERM or --duration after a clean shutdown",
    ExitCode.FAILURE: "unexpected error (rerun with --debug for the traceback)",
    ExitCode.USAGE: "bad command line, environment variable or setting; missing optional package",
    ExitCode.INVALID_JOBS_FILE: "jobs file missing, unreadable, not TOML, or invalid",
    ExitCode.PORT_IN_USE: "the metrics port is in use (or the address cannot be bound)",
    ExitCode.STORE_UNAVAILABLE: (
        "the job store cannot be opened (unreachable database, bad URL); run: another "
        "scheduler serves it"
    ),
    ExitCode.JOB_NOT_FOUND: "jobs show/pause/resume/remove/run-now: no job has that id",
    ExitCode.SHUTDOWN_TIMEOUT: "jobs still ran when --shutdown-timeout ran out (abandoned)",
    ExitCode.INTERRUPTED: "stopped by SIGINT (Ctrl-C) after a clean shutdown",
}


class CliError(Exception):
    """A failure to report as one paragraph, without a traceback unless ``--debug``.

    Attributes:
        message: what is wrong and where.
        code: the exit code.
    """

    def __init__(self, message: str, code: ExitCode) -> None:
        self.message = message
        self.code = code
        super().__init__(message)
