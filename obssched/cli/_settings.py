"""Scheduler-wide settings for ``run`` and ``demo``: flags over ``OBSSCHED_*`` variables over the
jobs file over the defaults."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._jobsfile import JobsFile, Problem
from obssched.cli._status import console_settings
from obssched.cli._stores import DEFAULT_STORE_URL

__all__ = ["ENVIRONMENT", "RunSettings", "parse_bool", "resolve_settings"]

_T = TypeVar("_T")

ENVIRONMENT: dict[str, str] = {
    "store": "OBSSCHED_STORE",
    "name": "OBSSCHED_NAME",
    "timezone": "OBSSCHED_TIMEZONE",
    "heartbeat": "OBSSCHED_HEARTBEAT",
    "shutdown_timeout": "OBSSCHED_SHUTDOWN_TIMEOUT",
    "metrics": "OBSSCHED_METRICS",
    "metrics_addr": "OBSSCHED_METRICS_ADDR",
    "metrics_port": "OBSSCHED_METRICS_PORT",
    "tracing": "OBSSCHED_TRACING",
    "trace_console": "OBSSCHED_TRACE_CONSOLE",
    "log_level": "OBSSCHED_LOG_LEVEL",
    "log_format": "OBSSCHED_LOG_FORMAT",
    "path": "OBSSCHED_PATH",
}
"""Setting name to the environment variable that overrides the jobs file."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


@dataclass
class RunSettings:
    """Everything ``run`` and ``demo`` need to build and serve a scheduler."""

    name: str = "default"
    timezone: str | None = None
    heartbeat: float = 10.0
    shutdown_timeout: float = 30.0
    jobstore_retry_interval: float | None = None
    job_defaults: dict[str, Any] = field(default_factory=dict)
    executors: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobstores: dict[str, str] = field(default_factory=lambda: {"default": DEFAULT_STORE_URL})
    store_given: bool = False
    """Whether the default store's URL was chosen (flag, variable or file), not defaulted."""
    metrics: bool = True
    metrics_addr: str = "127.0.0.1"
    metrics_port: int = 9464
    tracing: bool = True
    trace_console: bool = False
    log_level: str = "INFO"
    log_format: str = "text"
    path: list[str] = field(default_factory=list)
    duration: float | None = None
    console: Any = None
    """The console's settings (:class:`obssched.console.ConsoleSettings`)."""


def parse_bool(text: str) -> bool:
    """Read ``1/0``, ``true/false``, ``yes/no``, ``on/off``.

    Raises:
        ValueError: anything else.
    """
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive_float(text: Any) -> float:
    if isinstance(text, bool):
        raise ValueError(f"expected a number of seconds, got {text!r}")
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _port(text: Any) -> int:
    if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
        raise ValueError(f"expected a TCP port number, got {text!r}")
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a TCP port number from 0 to 65535, got {text!r}")
    return value


def _choice(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def convert(text: Any) -> str:
        value = str(text).upper() if upper else str(text).lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return value

    return convert


def _text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected nonempty text, got {text!r}")
    return text


def _timezone(text: Any) -> str:
    from obssched._timeutil import astimezone

    name = _text(text)
    astimezone(name)
    return name


def _file_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


class _Resolver:
    def __init__(
        self, args: argparse.Namespace, environ: Mapping[str, str], jobs_file: JobsFile | None
    ) -> None:
        self.args = args
        self.environ = environ
        self.jobs_file = jobs_file

    def pick(
        self,
        name: str,
        section: str,
        key: str,
        default: _T,
        convert: Callable[[Any], _T],
        env_convert: Callable[[str], _T] | None = None,
        flag: str | None = None,
    ) -> tuple[_T, bool]:
        """Return the setting's value and whether it was given anywhere."""
        value = getattr(self.args, name, None)
        if value is not None:
            try:
                return convert(value), True
            except (TypeError, ValueError) as exc:
                option = flag or "--" + name.replace("_", "-")
                raise CliError(f"{option}: {exc}", ExitCode.USAGE) from exc
        variable = ENVIRONMENT.get(name)
        if variable and self.environ.get(variable, "") != "":
            try:
                return (env_convert or convert)(self.environ[variable]), True
            except (TypeError, ValueError) as exc:
                raise CliError(f"environment variable {variable}: {exc}", ExitCode.USAGE) from exc
        if self.jobs_file is not None:
            table = self.jobs_file.section(section)
            if key in table:
                try:
                    return convert(table[key]), True
                except (TypeError, ValueError) as exc:
                    self.jobs_file.problems.append(
                        Problem(
                            self.jobs_file.path,
                            self.jobs_file.line_of(section, key),
                            f"[{section}]",
                            key,
                            str(exc),
                        )
                    )
        return default, False


def resolve_settings(
    args: argparse.Namespace,
    jobs_file: JobsFile | None,
    environ: Mapping[str, str] | None = None,
    defaults: RunSettings | None = None,
) -> RunSettings:
    """Combine flags, ``OBSSCHED_*`` variables, the jobs file and ``defaults``.

    Problems in the jobs file are appended to its ``problems``.

    Raises:
        CliError: a flag or an environment variable has a bad value (``USAGE``).
    """
    resolver = _Resolver(args, os.environ if environ is None else environ, jobs_file)
    base = defaults or RunSettings()
    settings = RunSettings(jobstores=dict(base.jobstores), executors=dict(base.executors))
    pick = resolver.pick
    settings.name, _ = pick("name", "scheduler", "name", base.name, _text)
    timezone, _ = pick("timezone", "scheduler", "timezone", base.timezone or "", _timezone)
    settings.timezone = timezone or None
    settings.heartbeat, _ = pick(
        "heartbeat", "scheduler", "heartbeat", base.heartbeat, _positive_float
    )
    settings.shutdown_timeout, _ = pick(
        "shutdown_timeout", "scheduler", "shutdown_timeout", base.shutdown_timeout, _positive_float
    )
    retry, given = pick(
        "jobstore_retry_interval", "scheduler", "jobstore_retry_interval", 0.0, _positive_float
    )
    settings.jobstore_retry_interval = retry if given else None
    settings.metrics, _ = pick(
        "metrics", "metrics", "enabled", base.metrics, _file_bool, parse_bool
    )
    settings.metrics_addr, _ = pick("metrics_addr", "metrics", "addr", base.metrics_addr, _text)
    settings.metrics_port, _ = pick(
        "metrics_port", "metrics", "port", base.metrics_port, _port, _port
    )
    settings.tracing, _ = pick(
        "tracing", "tracing", "enabled", base.tracing, _file_bool, parse_bool
    )
    settings.trace_console, _ = pick(
        "trace_console", "tracing", "console", base.trace_console, _file_bool, parse_bool
    )
    settings.log_level, _ = pick(
        "log_level", "logging", "level", base.log_level, _choice(LOG_LEVELS, upper=True)
    )
    settings.log_format, _ = pick(
        "log_format", "logging", "format", base.log_format, _choice(LOG_FORMATS)
    )
    settings.duration = getattr(args, "duration", None)
    settings.console = console_settings(args, resolver.environ)

    path_flags = getattr(args, "path", None) or []
    env_path = [p for p in resolver.environ.get(ENVIRONMENT["path"], "").split(os.pathsep) if p]
    file_path: list[str] = []
    if jobs_file is not None:
        directory = jobs_file.path.resolve().parent
        configured = jobs_file.section("scheduler").get("path", ["."])
        if isinstance(configured, str):
            configured = [configured]
        if not isinstance(configured, list) or not all(isinstance(p, str) for p in configured):
            jobs_file.problems.append(
                Problem(
                    jobs_file.path,
                    jobs_file.line_of("scheduler", "path"),
                    "[scheduler]",
                    "path",
                    "must be an array of directories",
                )
            )
            configured = ["."]
        # Relative to the jobs file, the way `python script.py` puts the script's directory first.
        for entry in configured:
            try:
                file_path.append(str((directory / entry).resolve()))
            except (OSError, ValueError) as exc:  # a NUL, a loop of symbolic links
                jobs_file.problems.append(
                    Problem(
                        jobs_file.path,
                        jobs_file.line_of("scheduler", "path"),
                        "[scheduler]",
                        "path",
                        f"{entry!r} is not a usable directory: {exc}",
                    )
                )
    settings.path = [*path_flags, *env_path, *file_path]

    if jobs_file is not None:
        _read_components(jobs_file, settings)
    store, given = pick("store", "jobstores", "", base.jobstores["default"], _text)
    if given:
        settings.jobstores["default"] = store
        settings.store_given = True
    elif "default" not in settings.jobstores:
        settings.jobstores["default"] = base.jobstores["default"]
    return settings


def _read_components(jobs_file: JobsFile, settings: RunSettings) -> None:
    def problem(where: str, key: str | None, message: str) -> None:
        # "[executors.default]" and its key "type" are found at ("executors", "default", "type").
        path = [part for part in where.strip("[]").split(".") if part]
        line = jobs_file.line_of(*path, *([key] if key else []))
        jobs_file.problems.append(Problem(jobs_file.path, line, where, key, message))

    defaults = jobs_file.section("scheduler").get("job_defaults", {})
    if isinstance(defaults, dict):
        allowed = {"misfire_grace_time", "coalesce", "max_instances", "timeout"}
        for key in defaults:
            if key not in allowed:
                problem(
                    "[scheduler.job_defaults]", key, f"expected one of {', '.join(sorted(allowed))}"
                )
        settings.job_defaults = {k: v for k, v in defaults.items() if k in allowed}
    else:
        problem("[scheduler]", "job_defaults", "must be a table")

    for alias, options in jobs_file.section("executors").items():
        if isinstance(options, dict):
            if "type" not in options and "class" not in options:
                problem(
                    f"[executors.{alias}]",
                    "type",
                    "missing: 'threadpool', 'processpool', 'asyncio' or 'debug' (or a 'class')",
                )
            settings.executors[alias] = dict(options)

    stores: dict[str, str] = {}
    for alias, options in jobs_file.section("jobstores").items():
        if not isinstance(options, dict):
            continue
        url = options.get("url")
        unknown = set(options) - {"url"}
        if unknown:
            problem(
                f"[jobstores.{alias}]", sorted(unknown)[0], "unknown key; a job store takes 'url'"
            )
        if not isinstance(url, str) or not url:
            problem(
                f"[jobstores.{alias}]",
                "url",
                "missing: 'memory' or an SQLAlchemy URL such as 'sqlite:///obssched.sqlite'",
            )
            continue
        stores[alias] = url
    if stores:
        settings.jobstores = stores
        if "default" in stores:
            settings.store_given = True
