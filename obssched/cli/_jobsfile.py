"""Reading a jobs file (TOML) and checking every job in it before anything is stored.

A jobs file has one ``[[jobs]]`` table per job, with the keys that ``add_job`` takes (or a
``crontab`` line in place of the trigger, as ``CronTrigger.from_crontab`` reads it), and
optional scheduler-wide tables (``[scheduler]``, ``[executors.NAME]``, ``[jobstores.NAME]``,
``[metrics]``, ``[tracing]``, ``[logging]``). Every problem is collected with the file, line, job
and field it concerns, so one ``obssched check`` run reports them all.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._tomllines import KeyPath, key_lines

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = [
    "JOB_OPTIONS",
    "SECTIONS",
    "JobSpec",
    "JobsFile",
    "Problem",
    "check_job_values",
    "field_named_by",
    "load_jobs_file",
    "problems_error",
    "validate_jobs",
]

SECTIONS: dict[str, frozenset[str] | None] = {
    "scheduler": frozenset(
        {
            "name",
            "timezone",
            "heartbeat",
            "shutdown_timeout",
            "path",
            "job_defaults",
            "jobstore_retry_interval",
        }
    ),
    "metrics": frozenset({"enabled", "addr", "port"}),
    "tracing": frozenset({"enabled", "console"}),
    "logging": frozenset({"level", "format"}),
    "executors": None,
    "jobstores": None,
    "jobs": None,
}
"""The top-level tables of a jobs file and the keys each takes (``None``: free-form)."""

JOB_OPTIONS = frozenset(
    {
        "func",
        "trigger",
        "id",
        "name",
        "args",
        "kwargs",
        "max_instances",
        "misfire_grace_time",
        "coalesce",
        "timeout",
        "overlap",
        "overlap_queue_limit",
        "executor",
        "jobstore",
    }
)
"""The keys of a ``[[jobs]]`` table that are job options; the others are trigger arguments."""

_QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")


@dataclass(frozen=True)
class JobSpec:
    """One ``[[jobs]]`` table as written.

    Attributes:
        index: the job's position in the file, from 1.
        line: the line of its ``[[jobs]]`` header, when it has one.
        table: the keys and values as read.
        field_lines: the line that sets each key of the table, when known.
    """

    index: int
    line: int | None
    table: Mapping[str, Any]
    field_lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, fieldname: str | None) -> int | None:
        """Return the line that sets ``fieldname``, else the job's header line."""
        if fieldname is None:
            return self.line
        return self.field_lines.get(fieldname, self.line)

    @property
    def label(self) -> str:
        """``job 2 ("nightly-report")``: how messages name the job."""
        ident = self.table.get("id") or self.table.get("name")
        return f"job {self.index} ({ident!r})" if isinstance(ident, str) else f"job {self.index}"


@dataclass(frozen=True)
class Problem:
    """What is wrong in a jobs file, and where."""

    path: Path
    line: int | None
    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        location = f"{self.path}:{self.line}" if self.line else str(self.path)
        field_part = f", field {self.field!r}" if self.field else ""
        return f"{location}: {self.where}{field_part}: {self.message}"


@dataclass
class JobsFile:
    """A jobs file that parsed as TOML, split into its sections."""

    path: Path
    sections: dict[str, dict[str, Any]]
    jobs: list[JobSpec]
    problems: list[Problem] = field(default_factory=list)
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """Return a scheduler-wide table (empty when the file has none)."""
        return self.sections.get(name, {})

    def line_of(self, *path: str | int) -> int | None:
        """Return the line that sets ``path`` (``"scheduler", "heartbeat"``), else the line of
        the nearest table around it that the file names, else ``None``."""
        for size in range(len(path), 0, -1):
            line = self.lines.get(path[:size])
            if line is not None:
                return line
        return None


def load_jobs_file(path: str | Path) -> JobsFile:
    """Read and parse a jobs file; structural problems are kept in ``problems``.

    Raises:
        CliError: the file is missing, unreadable or not TOML (``INVALID_JOBS_FILE``).
    """
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(
            f"{file_path}: no such jobs file (looked in {file_path.resolve().parent})",
            ExitCode.INVALID_JOBS_FILE,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(
            f"{file_path}: cannot read the jobs file: {exc}", ExitCode.INVALID_JOBS_FILE
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(
            f"{file_path}: not a valid TOML file: {exc}", ExitCode.INVALID_JOBS_FILE
        ) from exc
    except RecursionError as exc:  # tomllib parses nested arrays and tables recursively
        raise CliError(
            f"{file_path}: not a valid jobs file: its arrays or tables are nested too deeply "
            "to read",
            ExitCode.INVALID_JOBS_FILE,
        ) from exc

    problems: list[Problem] = []
    lines = key_lines(text)

    def problem(where: str, fieldname: str | None, message: str, line: int | None = None) -> None:
        problems.append(Problem(file_path, line, where, fieldname, message))

    sections: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key not in SECTIONS:
            known = ", ".join(f"[{name}]" for name in SECTIONS if name != "jobs")
            problem(
                "top level",
                key,
                f"unknown table or key; expected [[jobs]] or one of {known}",
                lines.get((key,)),
            )
            continue
        if key == "jobs":
            continue
        if not isinstance(value, dict):
            problem(f"[{key}]", None, f"must be a table, got {_describe(value)}", lines.get((key,)))
            continue
        allowed = SECTIONS[key]
        for name in value:
            if allowed is not None and name not in allowed:
                problem(
                    f"[{key}]",
                    name,
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                    lines.get((key, name)),
                )
        sections[key] = dict(value)
    for kind in ("executors", "jobstores"):
        for alias, options in sections.get(kind, {}).items():
            if not isinstance(options, dict):
                problem(
                    f"[{kind}.{alias}]",
                    None,
                    f"must be a table, got {_describe(options)}",
                    lines.get((kind, alias)),
                )

    raw_jobs = data.get("jobs", [])
    jobs: list[JobSpec] = []
    if not isinstance(raw_jobs, list):
        problem(
            "top level",
            "jobs",
            "must be an array of tables: write each job as [[jobs]]",
            lines.get(("jobs",)),
        )
        raw_jobs = []
    for index, table in enumerate(raw_jobs, start=1):
        line = lines.get(("jobs", index))
        if not isinstance(table, dict):
            problem(f"job {index}", None, f"must be a table, got {_describe(table)}", line)
            continue
        field_lines = {
            str(path[2]): number
            for path, number in lines.items()
            if len(path) == 3 and path[:2] == ("jobs", index)
        }
        jobs.append(JobSpec(index, line, table, field_lines))
    return JobsFile(file_path, sections, jobs, problems, lines)


class JobChecker(Protocol):
    """Builds a job from ``add_job`` arguments without storing it (raising what ``add_job``
    raises), in its ``timezone``."""

    timezone: Any

    def add_job(self, replace_existing: bool = False, **options: Any) -> Job:
        """Build the job."""
        ...


def validate_jobs(
    jobs_file: JobsFile,
    scheduler: JobChecker,
    executors: Sequence[str],
    jobstores: Sequence[str],
) -> list[dict[str, Any]]:
    """Check every job by building it with ``scheduler``; return ``add_job`` arguments.

    Problems are appended to ``jobs_file.problems``; the returned list holds the jobs that passed
    (callers must not store anything unless there are no problems at all).
    """
    from obssched._serialization import dumps_args
    from obssched.exceptions import SerializationError

    accepted: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    for spec in jobs_file.jobs:
        before = len(jobs_file.problems)

        def problem(fieldname: str | None, message: str, spec: JobSpec = spec) -> None:
            jobs_file.problems.append(
                Problem(jobs_file.path, spec.line_of(fieldname), spec.label, fieldname, message)
            )

        try:
            kwargs = _check_options(spec, problem, executors, jobstores, scheduler.timezone)
        except Exception as exc:  # a bug here must still leave a report that names the job
            problem(None, f"cannot be checked: {type(exc).__name__}: {exc}")
            continue
        if len(jobs_file.problems) > before or kwargs is None:
            continue
        job_id = kwargs["id"]
        if job_id in seen_ids:
            # Without an id of its own, the job's id comes from its name, else its func.
            source = next((key for key in ("id", "name", "func") if key in spec.table), "id")
            problem(
                source,
                f"the id {job_id!r} is used by job {seen_ids[job_id]} too; give each job its own "
                "id (without one, a job's id is its name, else its func)",
            )
            continue
        seen_ids[job_id] = spec.index
        try:
            job = scheduler.add_job(replace_existing=True, **kwargs)
        except Exception as exc:
            problem(_guess_field(exc, spec.table, _arguments_field(exc, spec.table)), _message(exc))
            continue
        try:
            dumps_args(job.args, job.kwargs)
        except (SerializationError, RecursionError) as exc:
            problem("args" if "args[" in str(exc) else "kwargs", str(exc))
            continue
        accepted.append(kwargs)
    return accepted


def _check_options(
    spec: JobSpec,
    problem: Any,
    executors: Sequence[str],
    jobstores: Sequence[str],
    default_timezone: Any,
) -> dict[str, Any] | None:
    from obssched._plugins import create_plugin
    from obssched._refs import ref_to_obj
    from obssched.triggers import TRIGGER_ALIASES

    table = dict(spec.table)
    if "replace_existing" in table:
        problem(
            "replace_existing",
            "not allowed here: jobs from a file always replace the stored job with the same id",
        )
        table.pop("replace_existing")
    if "next_run_time" in table:
        problem(
            "next_run_time",
            "not allowed here: it is computed from the trigger (use a date trigger's run_date, "
            "or a trigger's start_date)",
        )
        table.pop("next_run_time")

    func = table.get("func")
    if func is None:
        problem("func", "missing: name the callable as 'package.module:function'")
    elif not isinstance(func, str):
        problem("func", f"must be text 'package.module:function', got {_describe(func)}")
    else:
        try:
            target = ref_to_obj(func)
        except (ValueError, LookupError) as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            problem("func", f"unknown callable {func!r}: {exc}{cause}")
        except Exception as exc:
            problem("func", f"importing {func!r} raised {type(exc).__name__}: {exc}")
        else:
            if not callable(target):
                problem("func", f"{func!r} is not callable: it is {_describe(target)}")

    trigger = table.get("trigger")
    trigger_args = {key: value for key, value in table.items() if key not in JOB_OPTIONS}
    trigger_instance = None
    if "crontab" in trigger_args:
        trigger_instance = _crontab_trigger(table, trigger_args, problem, default_timezone)
    elif trigger is None:
        problem(
            "trigger",
            f"missing: one of {', '.join(sorted(TRIGGER_ALIASES))}, or a crontab line "
            "(crontab = '0 9 * * 1-5')",
        )
    elif not isinstance(trigger, str) or trigger not in TRIGGER_ALIASES:
        problem(
            "trigger",
            f"unknown trigger {trigger!r}; expected one of {', '.join(sorted(TRIGGER_ALIASES))}",
        )
    elif "timezone" in trigger_args and not isinstance(trigger_args["timezone"], str):
        problem("timezone", f"must be a time zone name, got {_describe(trigger_args['timezone'])}")
    else:
        timezone = trigger_args.pop("timezone", None)
        try:
            trigger_instance = create_plugin(
                "trigger", trigger, {**trigger_args, "timezone": timezone or default_timezone}
            )
        except Exception as exc:
            given = {**trigger_args, "timezone": timezone} if timezone else trigger_args
            problem(_guess_field(exc, given, default="trigger"), _message(exc))

    checks: list[tuple[str, type | tuple[type, ...], str]] = [
        ("id", str, "text"),
        ("name", str, "text"),
        ("args", list, "an array"),
        ("kwargs", dict, "a table"),
        ("coalesce", bool, "true or false"),
        ("executor", str, "text"),
        ("jobstore", str, "text"),
    ]
    for key, kind, wanted in checks:
        if key in table and not isinstance(table[key], kind):
            problem(key, f"must be {wanted}, got {_describe(table[key])}")
    for key in ("id", "name"):
        if isinstance(table.get(key), str) and not table[key].strip():
            problem(key, "must not be empty")
    check_job_values(table, problem)
    executor = table.get("executor", "default")
    if isinstance(executor, str) and executor not in executors:
        problem(
            "executor",
            f"no executor named {executor!r}; configured: {', '.join(sorted(executors))} "
            "(add one as [executors.NAME])",
        )
    jobstore = table.get("jobstore", "default")
    if isinstance(jobstore, str) and jobstore not in jobstores:
        problem(
            "jobstore",
            f"no job store named {jobstore!r}; configured: {', '.join(sorted(jobstores))} "
            "(add one as [jobstores.NAME] with a url)",
        )
    if trigger_instance is None or not isinstance(func, str):
        return None

    options = {key: value for key, value in table.items() if key in JOB_OPTIONS}
    options["trigger"] = trigger_instance
    options.setdefault("id", table.get("name") or func)
    if isinstance(options.get("args"), list):
        options["args"] = tuple(options["args"])
    return options


def _crontab_trigger(
    table: Mapping[str, Any], trigger_args: dict[str, Any], problem: Any, default_timezone: Any
) -> Any:
    # `crontab = "..."` is CronTrigger.from_crontab: crontab's own semantics (0 and 7 are Sunday,
    # a restricted day of month and day of week fire on either), with only a time zone beside it.
    from obssched.triggers.cron import CronTrigger

    expression = trigger_args.pop("crontab")
    timezone = trigger_args.pop("timezone", None)
    trigger = table.get("trigger", "cron")
    usable = True
    if trigger != "cron":
        problem(
            "trigger",
            f"{trigger!r} does not go with crontab, which makes a cron trigger: remove one of them",
        )
        usable = False
    for key in trigger_args:
        problem(
            key,
            "unknown key beside crontab, which takes only a timezone: put the schedule in the "
            "crontab line, or use the cron trigger's fields instead of it",
        )
        usable = False
    if not isinstance(expression, str):
        problem("crontab", f"must be text such as '0 9 * * 1-5', got {_describe(expression)}")
        usable = False
    if timezone is not None and not isinstance(timezone, str):
        problem("timezone", f"must be a time zone name, got {_describe(timezone)}")
        usable = False
    if not usable:
        return None
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone or default_timezone)
    except Exception as exc:
        given = {"crontab": expression, "timezone": timezone} if timezone else {}
        problem(_guess_field(exc, given, default="crontab"), _message(exc))
        return None


def check_job_values(table: Mapping[str, Any], problem: Any) -> None:
    """Report the numeric job options of ``table`` (a ``[[jobs]]`` table or the job defaults)
    that ``add_job`` would refuse, through ``problem(field, message)``."""
    max_instances = table.get("max_instances")
    if max_instances is not None and (
        isinstance(max_instances, bool) or not isinstance(max_instances, int) or max_instances < 1
    ):
        problem("max_instances", f"must be a whole number of 1 or more, got {max_instances!r}")
    grace = table.get("misfire_grace_time")
    if grace is not None and (
        isinstance(grace, bool)
        or not isinstance(grace, int | float)
        or not math.isfinite(grace)
        or grace <= 0
    ):
        problem("misfire_grace_time", f"must be a number of seconds above 0, got {grace!r}")
    timeout = table.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        problem("timeout", f"must be a number of seconds above 0, got {timeout!r}")


def problems_error(problems: Sequence[Problem], consequence: str = "") -> CliError:
    """Return the error that reports every problem, one per line."""
    count = len(problems)
    header = f"the jobs file has {count} problem{'s' if count != 1 else ''}{consequence}:"
    return CliError(
        "\n".join([header, *(f"  {problem}" for problem in problems)]),
        ExitCode.INVALID_JOBS_FILE,
    )


def field_named_by(exc: BaseException, table: Mapping[str, Any]) -> str | None:
    """Return the key of ``table`` that the error ``exc`` is about, when it names one."""
    return _guess_field(exc, table)


def _guess_field(
    exc: BaseException, table: Mapping[str, Any], default: str | None = None
) -> str | None:
    from obssched.exceptions import InvalidArgumentError, InvalidJobOptionError

    # Typed errors carry the argument's name.
    named = getattr(exc, "argument", None) if isinstance(exc, InvalidArgumentError) else None
    if isinstance(exc, InvalidJobOptionError):
        named = exc.option
    if named in table:
        return str(named)
    # Trigger and job errors name the bad argument in quotes ("cron field 'hour'", "unexpected
    # keyword argument 'foo'"); report the first quoted name that the table actually has.
    text = str(exc)
    for name in _QUOTED.findall(text):
        if name in table:
            return str(name)
    # Some errors name the argument unquoted ("timedelta seconds component"); try whole words.
    for name in table:
        if name not in JOB_OPTIONS and re.search(rf"\b{re.escape(name)}\b", text):
            return str(name)
    # Others quote the bad value ("No time zone found with key Mars/Base").
    for name, value in table.items():
        if isinstance(value, str) and len(value) >= 3 and value in text:
            return str(name)
    return default


def _arguments_field(exc: BaseException, table: Mapping[str, Any]) -> str | None:
    text = str(exc)
    if "argument" not in text:
        return None
    if "kwargs" in table and ("keyword" in text or "args" not in table):
        return "kwargs"
    return "args"


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, TypeError) and "unexpected keyword argument" in text:
        return f"{text} (not an option of this trigger or of add_job)"
    return text


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
