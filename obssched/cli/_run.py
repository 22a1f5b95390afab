"""``obssched run JOBS`` and ``obssched check JOBS``."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from obssched.cli._errors import ExitCode
from obssched.cli._format import format_table, humanize_delta
from obssched.cli._jobsfile import (
    JobsFile,
    Problem,
    load_jobs_file,
    problems_error,
    validate_jobs,
)
from obssched.cli._logs import setup_logging
from obssched.cli._runner import RunPlan, build_scheduler, extend_sys_path, run_scheduler
from obssched.cli._settings import RunSettings, resolve_settings
from obssched.cli._stores import is_memory

__all__ = ["check_command", "prepare", "run_command"]

_logger = logging.getLogger("obssched.cli")
_VALIDATION_LOGGER = logging.getLogger("obssched.cli.validation")


def prepare(
    args: argparse.Namespace, consequence: str
) -> tuple[JobsFile, RunSettings, list[dict[str, Any]]]:
    """Read the jobs file and settings, and check every job; nothing is stored.

    Raises:
        CliError: the file cannot be read, or has problems (``INVALID_JOBS_FILE``), or a flag
            or variable is bad (``USAGE``).
    """
    jobs_file = load_jobs_file(args.jobs_file)
    settings = resolve_settings(args, jobs_file)
    setup_logging(settings.log_level, settings.log_format)
    extend_sys_path(settings.path)
    # The scheduler that only checks jobs would log "Adding job tentatively" for each.
    _VALIDATION_LOGGER.setLevel(logging.WARNING)
    try:
        validator = build_scheduler(settings, observability=False, logger=_VALIDATION_LOGGER)
    except Exception as exc:
        jobs_file.problems.append(
            Problem(jobs_file.path, None, "[scheduler] or [executors]", None, str(exc))
        )
        validator = build_scheduler(
            RunSettings(timezone=settings.timezone), observability=False, logger=_VALIDATION_LOGGER
        )
    for alias, url in settings.jobstores.items():
        if not is_memory(url) and "://" not in url:
            jobs_file.problems.append(
                Problem(
                    jobs_file.path,
                    None,
                    f"[jobstores.{alias}]",
                    "url",
                    f"{url!r} is not a URL: use 'memory' or one like 'sqlite:///obssched.sqlite'",
                )
            )
    executors = sorted({*settings.executors, "default"})
    jobs = validate_jobs(jobs_file, validator, executors, sorted(settings.jobstores))
    if jobs_file.problems:
        raise problems_error(jobs_file.problems, consequence)
    return jobs_file, settings, jobs


def run_command(args: argparse.Namespace) -> ExitCode:
    """Run the jobs of a file until SIGTERM, SIGINT or ``--duration``."""
    jobs_file, settings, jobs = prepare(args, "; nothing was stored")
    if not jobs:
        _logger.warning(
            "%s has no [[jobs]]: the scheduler runs the stored jobs only", jobs_file.path
        )
    return run_scheduler(RunPlan(settings, jobs, source=str(jobs_file.path)))


def check_command(args: argparse.Namespace) -> ExitCode:
    """Validate a jobs file and print its jobs with their first run times."""
    jobs_file, settings, jobs = prepare(args, "")
    from obssched.clock import SystemClock

    now = SystemClock().now()
    rows = []
    for options in jobs:
        trigger = options["trigger"]
        first = trigger.get_next_fire_time(None, now)
        rows.append(
            [
                str(options["id"]),
                str(trigger),
                first.isoformat() if first else "never",
                humanize_delta((first - now).total_seconds()) if first else "",
            ]
        )
    print(f"{jobs_file.path}: OK, {len(jobs)} job(s)")
    if rows:
        print(format_table(["ID", "TRIGGER", "FIRST RUN", ""], rows))
    stores = ", ".join(f"{alias}={url}" for alias, url in settings.jobstores.items())
    print(f"job stores: {stores}")
    return ExitCode.OK
