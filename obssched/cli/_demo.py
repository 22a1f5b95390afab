"""``obssched demo``: a bundled job set that produces every outcome the dashboards show.

Within about 10 seconds of the start: successful runs (``ping``), an error (``flaky_sync``, on
its 2nd run, then every 3rd), a job that fails on every run (``fetch_rates``), a slow run of
several seconds (``build_report``), runs refused for ``max_instances`` (``export_snapshot``), a
missed run (``late_reminder``, re-added in the past every 10 seconds) and an error in an event
listener (``notify_on_call``, on missed runs); and at the next minute, a cron run
(``rotate_logs``).

The log goes in full to ``demo.log`` beside the demo's store; the terminal shows the banner, then
warnings and errors one line each (``-v``: the whole log, tracebacks included).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from obssched.cli._demo_jobs import notify_on_call
from obssched.cli._errors import CliError, ExitCode
from obssched.cli._logs import setup_logging
from obssched.cli._runner import Running, RunPlan, run_scheduler
from obssched.cli._settings import RunSettings, resolve_settings
from obssched.cli._stores import create_store, describe_store, is_memory
from obssched.events import EVENT_JOB_MISSED

__all__ = [
    "LATE_JOB_ID",
    "MISS_EVERY",
    "default_demo_log",
    "default_demo_store",
    "demo_command",
    "demo_jobs",
]

_logger = logging.getLogger("obssched.demo")

LATE_JOB_ID = "late_reminder"
MISS_EVERY = 10.0
"""Seconds between two missed runs of ``late_reminder``."""

_REF = "obssched.cli._demo_jobs:"


def _state_directory() -> Path:
    """``$XDG_STATE_HOME/obssched`` (``~/.local/state/obssched``), else the temp dir."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    directory = Path(state_home) / "obssched"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise PermissionError(directory)
    except OSError:
        directory = Path(tempfile.gettempdir())
    return directory


def default_demo_store() -> str:
    """``$XDG_STATE_HOME/obssched/demo.sqlite`` (``~/.local/state/...``), else the temp dir."""
    return f"sqlite:///{_state_directory() / 'demo.sqlite'}"


def default_demo_log() -> Path:
    """``$XDG_STATE_HOME/obssched/demo.log`` (``~/.local/state/...``), else the temp dir."""
    return _state_directory() / "demo.log"


def demo_jobs(now_offset: Callable[[float], Any]) -> list[dict[str, Any]]:
    """Return the demo's jobs as ``add_job`` arguments; ``now_offset(s)`` is now plus ``s``."""
    return [
        {
            "func": _REF + "ping",
            "trigger": "interval",
            "seconds": 2,
            "id": "ping",
            "name": "ping",
            "next_run_time": now_offset(1.0),
            # A slow start (a cold disk, a busy CI machine) must not turn first runs into misses;
            # late_reminder is the one job meant to miss.
            "misfire_grace_time": 30,
        },
        {
            "func": _REF + "flaky_sync",
            "trigger": "interval",
            "seconds": 3,
            "id": "flaky_sync",
            "name": "flaky_sync",
            "kwargs": {"source": "inventory"},
            "next_run_time": now_offset(1.0),
            # A slow start (a cold disk, a busy CI machine) must not turn first runs into misses;
            # late_reminder is the one job meant to miss.
            "misfire_grace_time": 30,
        },
        {
            "func": _REF + "fetch_rates",
            "trigger": "interval",
            "seconds": 5,
            "id": "fetch_rates",
            "name": "fetch_rates",
            "kwargs": {"currency": "EUR"},
            "next_run_time": now_offset(2.0),
            # A slow start (a cold disk, a busy CI machine) must not turn first runs into misses;
            # late_reminder is the one job meant to miss.
            "misfire_grace_time": 30,
        },
        {
            "func": _REF + "build_report",
            "trigger": "interval",
            "seconds": 15,
            "id": "build_report",
            "name": "build_report",
            "kwargs": {"seconds": 6.0},
            # Never reached: it shows obssched_job_timeout_seconds, which the long-run alert uses.
            "timeout": 60,
            "next_run_time": now_offset(1.0),
            # A slow start (a cold disk, a busy CI machine) must not turn first runs into misses;
            # late_reminder is the one job meant to miss.
            "misfire_grace_time": 30,
        },
        {
            "func": _REF + "export_snapshot",
            "trigger": "interval",
            "seconds": 2,
            "id": "export_snapshot",
            "name": "export_snapshot",
            "kwargs": {"seconds": 5.0},
            "max_instances": 1,
            "next_run_time": now_offset(1.0),
            # A slow start (a cold disk, a busy CI machine) must not turn first runs into misses;
            # late_reminder is the one job meant to miss.
            "misfire_grace_time": 30,
        },
        {
            "func": _REF + "rotate_logs",
            "trigger": "cron",
            "minute": "*",
            "id": "rotate_logs",
            "name": "rotate_logs",
        },
        _late_reminder(now_offset(-5.0)),
    ]


def _late_reminder(run_date: Any) -> dict[str, Any]:
    # A run time already past its grace time: missed at the next tick.
    return {
        "func": _REF + "send_reminder",
        "trigger": "date",
        "run_date": run_date,
        "id": LATE_JOB_ID,
        "name": LATE_JOB_ID,
        "misfire_grace_time": 1,
    }


class _LateRuns:
    """Re-adds ``late_reminder`` with a run time already past its grace time, every so often.

    The scheduling loop judges a run missed when it reaches a run time older than the job's
    ``misfire_grace_time``; a date job 5 s in the past with a 1 s grace is therefore missed at
    the next tick, which keeps the missed-runs series (and its alert) moving.
    """

    def __init__(self, running: Running, every: float) -> None:
        self._scheduler = running.scheduler
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="obssched-demo-late", daemon=True)

    def start(self) -> Callable[[], None]:
        self._thread.start()
        return self.stop

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        # The demo's jobs include the first late reminder; this adds the next ones.
        while not self._stop.wait(self._every):
            try:
                run_date = self._scheduler.clock.now() - timedelta(seconds=5)
                self._scheduler.add_job(replace_existing=True, **_late_reminder(run_date))
            except Exception:
                if self._stop.is_set():
                    return
                _logger.exception("Could not schedule the late reminder")


def _banner(running: Running, jobs: int, store: str, log_file: Path | None, verbose: bool) -> str:
    lines = ["", f"obssched demo is running {jobs} jobs; job store: {store}"]
    server = running.server
    if server is not None:
        url = server.url
        target = f"{server.addr}:{server.port}"
        lines += [
            f"  status page   {url}/",
            f"  metrics       {url}/metrics",
            f"  health        {url}/healthz",
        ]
    traces = ", ".join(running.tracing.exporters) or (
        "not exported (set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318, or --trace-console)"
    )
    lines.append(f"  traces        {traces}")
    if log_file is not None:
        shown_here = "in full" if verbose else "warnings and errors, one line each; -v: in full"
        lines.append(f"  log           {log_file} (here: {shown_here})")
    if server is not None:
        lines += [
            "Point Prometheus at it (prometheus.yml):",
            "  scrape_configs:",
            "    - job_name: obssched",
            "      scrape_interval: 5s",
            "      static_configs:",
            f'        - targets: ["{target}"]',
        ]
    lines += [
        "Within about 10 s: runs that succeed (ping), fail now and then (flaky_sync) or every",
        "time (fetch_rates), take seconds (build_report), overlap and hit max_instances",
        "(export_snapshot) and miss their start (late_reminder, every 10 s), and a listener",
        "that fails (notify_on_call, once a minute); rotate_logs is a cron job at every minute.",
    ]
    if not is_memory(store):
        lines.append(f"Administer it from another terminal: obssched jobs list --store {store}")
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


def demo_command(args: argparse.Namespace) -> ExitCode:
    """Run the demo job set until Ctrl-C, SIGTERM or ``--duration``."""
    defaults = RunSettings(name="demo", heartbeat=2.0, shutdown_timeout=10.0)
    defaults.jobstores = {"default": default_demo_store()}
    settings = resolve_settings(args, None, defaults=defaults)
    verbose = bool(getattr(args, "verbose", False))
    log_file = _setup_logging(settings, verbose)
    store = settings.jobstores["default"]
    if not settings.store_given and not is_memory(store):
        try:
            create_store(store)
        except CliError as exc:
            if exc.code != ExitCode.STORE_UNAVAILABLE:
                raise
            _logger.warning("%s; the demo keeps its jobs in memory instead", exc.message)
            store = settings.jobstores["default"] = "memory"
    shown = describe_store(store)

    jobs = demo_jobs(_now_offset_factory())

    def on_started(running: Running) -> Callable[[], None]:
        print(_banner(running, len(jobs), shown, log_file, verbose), flush=True)
        running.scheduler.add_listener(notify_on_call, EVENT_JOB_MISSED)
        return _LateRuns(running, MISS_EVERY).start()

    plan = RunPlan(
        settings,
        jobs,
        source="the demo",
        clear_stores=True,
        on_started=on_started,
    )
    return run_scheduler(plan)


def _setup_logging(settings: RunSettings, verbose: bool) -> Path | None:
    """Log everything to the demo's log file, and to the terminal only warnings and errors, one
    line each (``-v``: everything, with tracebacks), so that the banner stays in view."""
    log_file = default_demo_log()
    try:
        setup_logging(
            settings.log_level,
            settings.log_format,
            log_file=log_file,
            terminal_level=None if verbose else "WARNING",
            tracebacks=verbose,
        )
    except OSError as exc:
        setup_logging(settings.log_level, settings.log_format)
        _logger.warning("Cannot write the log file %s (%s); logging here in full", log_file, exc)
        return None
    return log_file


def _now_offset_factory() -> Callable[[float], Any]:
    from obssched.clock import SystemClock

    clock = SystemClock()
    start = clock.now()
    return lambda seconds: start + timedelta(seconds=seconds)
