"""The command line: ``obssched run|demo|check|jobs``, each with ``--help``."""

from __future__ import annotations

import argparse

from obssched.cli._errors import exit_codes_help
from obssched.cli._settings import ENVIRONMENT, LOG_FORMATS, LOG_LEVELS
from obssched.cli._status import add_console_flags
from obssched.cli._stores import DEFAULT_STORE_URL
from obssched.console._settings import ENVIRONMENT as CONSOLE_ENVIRONMENT

__all__ = ["build_parser"]

_DESCRIPTION = (
    "An APScheduler 3 compatible job scheduler with Prometheus metrics and OpenTelemetry "
    "traces built in."
)

_SWITCHES = {
    "metrics": ("--no-metrics", "false"),
    "tracing": ("--no-tracing", "false"),
    "trace_console": ("--trace-console", "true"),
}
"""Settings whose flag is a switch: the flag and the variable's value that means the same."""

_OTEL_HELP = (
    "  OTEL_EXPORTER_OTLP_ENDPOINT  export traces over OTLP/HTTP (also the other OTEL_* ones)"
)


# The console's variables (read by ConsoleSettings.from_env) and the flag each stands for.
_CONSOLE_FLAGS = {
    "token": ("--console-token", ""),
    "actions": ("--console-actions", "true"),
    "show_args": ("--console-show-args", "true"),
    "allowed_hosts": ("--console-allowed-host", ""),
    "grafana_url": ("--grafana-url", ""),
    "trace_url_template": ("--trace-url-template", ""),
}


def _environment_help(settings: list[str], otel: bool = True, console: bool = False) -> str:
    """Return the epilog that lists the variables of ``settings`` (and of the console) with the
    flag each stands for."""
    lines = [
        "environment variables (a flag wins over its variable, which wins over the jobs file):"
    ]
    for name in settings:
        flag, value = _SWITCHES.get(name, ("--" + name.replace("_", "-"), ""))
        variable = ENVIRONMENT[name] + (f"={value}" if value else "")
        lines.append(f"  {variable:<28} {flag}")
    if console:
        for name, (flag, value) in _CONSOLE_FLAGS.items():
            variable = CONSOLE_ENVIRONMENT[name] + (f"={value}" if value else "")
            lines.append(f"  {variable:<28} {flag}")
    if otel:
        lines.append(_OTEL_HELP)
    return "\n".join(lines)


def _common(parser: argparse.ArgumentParser, verbose: bool = False) -> None:
    group = parser.add_argument_group("output")
    if verbose:
        group.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="show the whole log here, job errors with their tracebacks (by default the "
            "terminal shows warnings and errors one line each; the log file has everything)",
        )
    group.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="stderr log format: readable text (default) or one JSON object per line",
    )
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        help="the least severe level logged (default INFO)",
    )


def _serving(parser: argparse.ArgumentParser, store_help: str, port_default: int = 9464) -> None:
    group = parser.add_argument_group("scheduler")
    group.add_argument("--store", metavar="URL", default=None, help=store_help)
    group.add_argument(
        "--heartbeat",
        type=float,
        metavar="SECONDS",
        default=None,
        help="the longest the loop sleeps (how soon /healthz can tell a stuck loop)",
    )
    group.add_argument(
        "--shutdown-timeout",
        type=float,
        metavar="SECONDS",
        default=None,
        help="on SIGTERM/SIGINT, how long to wait for running jobs before abandoning them",
    )
    group.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        default=None,
        help="stop by itself after this long (for tests and CI)",
    )
    group.add_argument("--name", default=None, help="the scheduler's name (metrics label)")
    group.add_argument("--timezone", default=None, help="default time zone of triggers (IANA)")
    http = parser.add_argument_group("metrics, status page and tracing")
    http.add_argument(
        "--metrics-addr",
        "--metrics-host",
        dest="metrics_addr",
        metavar="ADDR",
        default=None,
        help="address to serve /metrics, /healthz and the status page on (default 127.0.0.1)",
    )
    http.add_argument(
        "--metrics-port",
        metavar="PORT",
        default=None,
        help=f"port to serve them on (default {port_default}; 0 picks a free one)",
    )
    http.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_const",
        const=False,
        default=None,
        help="record no metrics and serve no HTTP",
    )
    http.add_argument(
        "--trace-console",
        action="store_const",
        const=True,
        default=None,
        help="print finished spans to stdout",
    )
    http.add_argument(
        "--no-tracing",
        dest="tracing",
        action="store_const",
        const=False,
        default=None,
        help="record no spans",
    )
    add_console_flags(http)


def _path(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path",
        action="append",
        metavar="DIR",
        default=None,
        help="a directory to import job functions from (repeatable; the working directory "
        "always is one)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``obssched`` and its commands."""
    from obssched import __version__

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="obssched",
        description=_DESCRIPTION,
        epilog=(
            "Start with 'obssched demo', then open http://127.0.0.1:9464/.\n\n" + exit_codes_help()
        ),
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"obssched {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the jobs of a jobs file in the foreground",
        description=(
            "Run a scheduler in the foreground with the jobs of JOBS (TOML: one [[jobs]] table "
            "per job). Jobs replace the stored jobs with the same id. Serves /metrics, /healthz "
            "and a status page at /. SIGTERM or SIGINT (Ctrl-C) stops it after the running jobs "
            "finish (bounded by --shutdown-timeout)."
        ),
        epilog=_environment_help(list(ENVIRONMENT), console=True) + "\n\n" + exit_codes_help(),
        formatter_class=raw,
    )
    run.add_argument("jobs_file", metavar="JOBS", help="the jobs file (TOML)")
    _serving(
        run,
        "the default job store: 'memory' or an SQLAlchemy URL "
        f"(default: the jobs file's [jobstores.default], else {DEFAULT_STORE_URL})",
    )
    _path(run)
    _common(run)

    demo = commands.add_parser(
        "demo",
        help="run a bundled job set that shows every outcome on the dashboards",
        description=(
            "Run example jobs that succeed, fail now and then, take seconds, overlap and hit "
            "max_instances, miss their start, and run by cron; print where to look. Runs until "
            "Ctrl-C, or for --duration seconds. The terminal shows warnings and errors one "
            "line each; the whole log goes to $XDG_STATE_HOME/obssched/demo.log "
            "(~/.local/state/obssched/demo.log)."
        ),
        epilog=_environment_help([name for name in ENVIRONMENT if name != "path"], console=True)
        + "\n\n"
        + exit_codes_help(),
        formatter_class=raw,
    )
    _serving(
        demo,
        "job store URL (default: sqlite:///$XDG_STATE_HOME/obssched/demo.sqlite, i.e. "
        "~/.local/state/obssched/demo.sqlite); the demo clears it at start",
    )
    _common(demo, verbose=True)

    check = commands.add_parser(
        "check",
        help="validate a jobs file without running it",
        description=(
            "Check every job of JOBS (callable, trigger, options) and the scheduler settings; "
            "report each problem with the file, job and field. Stores nothing."
        ),
        epilog=_environment_help(["timezone", "path", "log_level", "log_format"], otel=False)
        + "\n\n"
        + exit_codes_help(),
        formatter_class=raw,
    )
    check.add_argument("jobs_file", metavar="JOBS", help="the jobs file (TOML)")
    check.add_argument("--timezone", default=None, help="default time zone of triggers (IANA)")
    _path(check)
    _common(check)

    jobs = commands.add_parser(
        "jobs",
        help="list, show, pause, resume, remove or run-now jobs in a persistent store; migrate "
        "APScheduler 3's",
        description=(
            "Administer the jobs of a persistent store while a scheduler runs elsewhere: the "
            "scheduler serving the store follows the change within a second."
        ),
        epilog=exit_codes_help(),
        formatter_class=raw,
    )
    actions = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    helps = {
        "list": "list the jobs with their trigger and next run time",
        "show": "show one job in full",
        "pause": "pause a job (it keeps its trigger, and has no next run time)",
        "resume": "resume a paused job from now",
        "remove": "remove a job",
        "run-now": "make a job due now",
    }
    for name, text in helps.items():
        action = actions.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog=_environment_help(["store"], otel=False) + "\n\n" + exit_codes_help(),
            formatter_class=raw,
        )
        if name != "list":
            action.add_argument("job_id", metavar="ID", help="the job's id")
        action.add_argument(
            "--store",
            metavar="URL",
            default=None,
            help=f"the store's URL (default: $OBSSCHED_STORE, else {DEFAULT_STORE_URL})",
        )
        action.add_argument("--json", action="store_true", help="print JSON")
        action.add_argument(
            "--status-url",
            metavar="URL",
            default=None,
            help="the running scheduler's HTTP address (e.g. http://127.0.0.1:9464), to show "
            "each job's last outcome",
        )
        action.add_argument(
            "--timezone", default=None, help="show times in this time zone (IANA; default local)"
        )
        _path(action)
        _common(action)
    _migrate_parser(actions)
    return parser


def _migrate_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = actions.add_parser(
        "migrate",
        help="convert the jobs of an APScheduler 3 job table into obssched's tables",
        description=(
            "Convert the jobs that APScheduler 3's SQLAlchemyJobStore keeps (table "
            "apscheduler_jobs: id, next_run_time, pickled job_state) into obssched's tables in "
            "the same database, keeping each job's id, name, function, arguments, trigger, next "
            "run time, paused state and options. Jobs already in obssched's table are left as "
            "they are, so running it again changes nothing. Reading job_state unpickles it, "
            "which runs code stored in the database: migrate only a database you trust (this "
            "is the only command that unpickles). Needs the apscheduler package (3.x) "
            "importable."
        ),
        epilog=_environment_help(["store"], otel=False) + "\n\n" + exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate.add_argument(
        "--store",
        metavar="URL",
        default=None,
        help=f"the database's URL (default: $OBSSCHED_STORE, else {DEFAULT_STORE_URL})",
    )
    migrate.add_argument(
        "--source-table",
        metavar="TABLE",
        default="apscheduler_jobs",
        help="APScheduler 3's job table (default: apscheduler_jobs)",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="report what would be converted; write nothing"
    )
    migrate.add_argument(
        "--drop-source",
        action="store_true",
        help="drop the source table once every job in it is converted (kept otherwise)",
    )
    migrate.add_argument("--json", action="store_true", help="print the report as JSON")
    _path(migrate)
    _common(migrate)
