"""The CLI's exit codes and the error that carries one to ``main()``."""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "OPTIONAL_PACKAGES",
    "CliError",
    "ExitCode",
    "exit_codes_help",
    "missing_optional_package",
    "missing_package",
    "missing_package_error",
]


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


OPTIONAL_PACKAGES: dict[str, str] = {
    "psycopg": "postgresql",
    "psycopg_binary": "postgresql",
    "sqlalchemy": "sqlalchemy",
    "opentelemetry.sdk": "otel",
    "opentelemetry.exporter.otlp.proto.http": "otel",
}
"""Modules the command imports only when asked to, and the extra of obssched that installs each
(``pip install 'obssched[postgresql]'``)."""


def missing_package(exc: BaseException) -> str | None:
    """Return the name of the module whose import failed, when ``exc`` is such a failure."""
    if isinstance(exc, ImportError) and exc.name:
        return exc.name
    return None


def missing_package_error(
    module: str, needed_for: str, alternative: str = "", extra: str | None = None
) -> CliError:
    """Return the error for an optional package that is not installed: exit code ``USAGE``,
    and a message that names the extra to install (or the module, when no extra has it).

    Args:
        module: the module that failed to import (``"psycopg"``,
            ``"opentelemetry.exporter.otlp.proto.grpc"``).
        needed_for: what needs it, to start the message (``"the job store postgresql://..."``).
        alternative: what else the user can do instead (``"unset OTEL_EXPORTER_OTLP_PROTOCOL"``).
        extra: the extra that installs it, when :data:`OPTIONAL_PACKAGES` does not say.
    """
    extra = extra or _extra_of(module)
    if extra is not None:
        message = (
            f"{needed_for} needs the {module} package, which is not installed; install it with "
            f"pip install 'obssched[{extra}]'"
        )
    else:
        message = (
            f"{needed_for} needs the module {module}, which is not installed; install the "
            "package that provides it"
        )
    if alternative:
        message += f", or {alternative}"
    return CliError(message, ExitCode.USAGE)


def missing_optional_package(exc: BaseException) -> CliError | None:
    """Return the error for ``exc`` when it is the failed import of a module that an extra of
    obssched installs (:data:`OPTIONAL_PACKAGES`), else ``None``."""
    module = missing_package(exc)
    if module is None or _extra_of(module) is None:
        return None
    return missing_package_error(module, "this command")


def _extra_of(module: str) -> str | None:
    for name, extra in OPTIONAL_PACKAGES.items():
        if module == name or module.startswith(name + "."):
            return extra
    return None
