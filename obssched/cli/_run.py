"""``obssched run JOBS`` and ``obssched check JOBS``."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, cast

from obssched.cli._errors import ExitCode
from obssched.cli._format import format_table, humanize_delta
from obssched.cli._jobsfile import (
    JobsFile,
    Problem,
    check_job_values,
    field_named_by,
    load_jobs_file,
    problems_error,
    validate_jobs,
)
from obssched.cli._logs import setup_logging
from obssched.cli._runner import RunPlan, extend_sys_path, run_scheduler, scheduler_options
from obssched.cli._settings import RunSettings, resolve_settings
from obssched.cli._stores import check_store_driver, is_memory
from obssched.job import Job
from obssched.schedulers._config import check_options

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = ["check_command", "prepare", "run_command"]

_logger = logging.getLogger("obssched.cli")


def prepare(
    args: argparse.Namespace, consequence: str
) -> tuple[JobsFile, RunSettings, list[dict[str, Any]]]:
    """Read the jobs file and settings, and check every job; nothing is stored.

    Raises:
        CliError: the file cannot be read, or has problems (``INVALID_JOBS_FILE``), or a flag
            or variable is bad, or a store's database driver is not installed (``USAGE``).
    """
    jobs_file = load_jobs_file(args.jobs_file)
    settings = resolve_settings(args, jobs_file)
    setup_logging(settings.log_level, settings.log_format)
    extend_sys_path(settings.path)
    timezone = _check_scheduler(jobs_file, settings)
    for alias, url in settings.jobstores.items():
        if not is_memory(url) and "://" not in url:
            jobs_file.problems.append(
                Problem(
                    jobs_file.path,
                    jobs_file.line_of("jobstores", alias, "url"),
                    f"[jobstores.{alias}]",
                    "url",
                    f"{url!r} is not a URL: use 'memory' or one like 'sqlite:///obssched.sqlite'",
                )
            )
    executors = sorted({*settings.executors, "default"})
    jobs = validate_jobs(jobs_file, _JobChecker(timezone), executors, sorted(settings.jobstores))
    if jobs_file.problems:
        raise problems_error(jobs_file.problems, consequence)
    for url in settings.jobstores.values():
        check_store_driver(url)
    return jobs_file, settings, jobs


class _JobChecker:
    """Checks a job's ``add_job`` arguments by building the job, as ``add_job`` does, with no
    scheduler and nothing stored: the scheduler that runs the file adds each job once."""

    def __init__(self, timezone: Any) -> None:
        self.timezone = timezone

    def add_job(self, replace_existing: bool = False, **options: Any) -> Job:
        del replace_existing
        options.pop("jobstore", None)
        options.setdefault("args", ())
        options.setdefault("kwargs", {})
        # A job being built reads only its scheduler's time zone.
        return Job(cast("BaseScheduler", self), **options)


def _check_scheduler(jobs_file: JobsFile, settings: RunSettings) -> Any:
    """Check the scheduler options, the job defaults and each executor on its own, so that every
    problem is reported at its line; return the scheduler's time zone."""

    def problem(path: tuple[str, ...], where: str, key: str | None, message: str) -> None:
        line = jobs_file.line_of(*path, *([key] if key else []))
        jobs_file.problems.append(Problem(jobs_file.path, line, where, key, message))

    options = scheduler_options(settings, observability=False)
    executors = options.pop("executors")
    defaults = options.pop("job_defaults")
    # Each scheduler-wide value was checked as it was read (resolve_settings).
    timezone = check_options(options).timezone
    # The four keys a job default may have (the others are reported when the file is read).
    where = ("scheduler", "job_defaults")
    check_job_values(
        defaults, lambda key, message: problem(where, "[scheduler.job_defaults]", key, message)
    )
    coalesce = defaults.get("coalesce", False)
    if not isinstance(coalesce, bool):
        problem(
            where,
            "[scheduler.job_defaults]",
            "coalesce",
            f"must be true or false, got {coalesce!r}",
        )
    for alias, executor in executors.items():
        try:
            check_options({"executors": {alias: executor}})
        except Exception as exc:
            field = field_named_by(exc, executor) or ("type" if "type" in executor else None)
            problem(("executors", alias), f"[executors.{alias}]", field, str(exc))
    return timezone


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
