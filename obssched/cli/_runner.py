"""Running a scheduler in the foreground until a signal or ``--duration``, then shutting it
down within ``--shutdown-timeout``; shared by ``run`` and ``demo``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._otel import TracingSetup, setup_tracing
from obssched.cli._settings import RunSettings
from obssched.cli._status import OutcomeTracker, StatusServer, make_status_app, serve
from obssched.cli._stores import create_store, describe_store
from obssched.observability import PortInUseError

if TYPE_CHECKING:
    from obssched.jobstores.base import BaseJobStore
    from obssched.schedulers.background import BackgroundScheduler

__all__ = [
    "RunPlan",
    "Running",
    "build_scheduler",
    "extend_sys_path",
    "run_scheduler",
    "scheduler_options",
]

_logger = logging.getLogger("obssched.cli")


@dataclass
class Running:
    """What a plan's ``on_started`` callback gets: the live scheduler and where it is served."""

    scheduler: BackgroundScheduler
    server: StatusServer | None
    tracing: TracingSetup
    stores: dict[str, str]


@dataclass
class RunPlan:
    """What to run: the settings, the jobs (``add_job`` arguments) and the caller's extras."""

    settings: RunSettings
    jobs: Sequence[dict[str, Any]]
    source: str
    """Where the jobs come from, for the log (``jobs.toml``, ``the demo``)."""
    clear_stores: bool = False
    """Remove every stored job before adding ``jobs`` (the demo owns its store)."""
    on_started: Callable[[Running], Callable[[], None] | None] | None = None
    """Called once the jobs are added; may return a function to call at shutdown."""
    extra_scheduler_options: dict[str, Any] = field(default_factory=dict)


def extend_sys_path(directories: Sequence[str]) -> None:
    """Put ``directories`` (and the working directory) first on ``sys.path``, once each.

    The console script does not put the working directory on the path the way ``python -m``
    does; job functions in the project directory must import either way.
    """
    for directory in reversed([*directories, os.getcwd()]):
        if directory not in sys.path:
            sys.path.insert(0, directory)


def build_scheduler(
    settings: RunSettings,
    jobstores: dict[str, BaseJobStore] | None = None,
    *,
    observability: bool = True,
    tracer_provider: Any = None,
    **extra: Any,
) -> BackgroundScheduler:
    """Create a scheduler (not started) from ``settings``.

    Raises:
        CliError: an executor or another setting is rejected by the scheduler
            (``INVALID_JOBS_FILE``: these come from the jobs file).
    """
    from obssched.schedulers.background import BackgroundScheduler

    options = scheduler_options(
        settings, jobstores, observability=observability, tracer_provider=tracer_provider, **extra
    )
    try:
        return BackgroundScheduler(**options)
    except Exception as exc:
        raise CliError(
            f"cannot configure the scheduler: {type(exc).__name__}: {exc} (check [scheduler] and "
            "[executors.*] in the jobs file)",
            ExitCode.INVALID_JOBS_FILE,
        ) from exc


def scheduler_options(
    settings: RunSettings,
    jobstores: dict[str, BaseJobStore] | None = None,
    *,
    observability: bool = True,
    tracer_provider: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return the scheduler options ``settings`` give (what :func:`build_scheduler` passes)."""
    options: dict[str, Any] = {
        "name": settings.name,
        "heartbeat_interval": settings.heartbeat,
        "executors": {alias: dict(value) for alias, value in settings.executors.items()},
        "job_defaults": dict(settings.job_defaults),
        "metrics": observability and settings.metrics,
        "tracing": observability and settings.tracing,
        "daemon": True,
        **extra,
    }
    if settings.timezone:
        options["timezone"] = settings.timezone
    if settings.jobstore_retry_interval is not None:
        options["jobstore_retry_interval"] = settings.jobstore_retry_interval
    if jobstores is not None:
        options["jobstores"] = jobstores
    if tracer_provider is not None:
        options["tracer_provider"] = tracer_provider
    return options


class _Stopper:
    """Turns SIGTERM and SIGINT into a request to stop; a second one forces the exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.signal is not None:
            # The operator insists: leave now, abandoning the running jobs.
            sys.stderr.write(
                f"obssched: second {signal.Signals(signum).name}: exiting without waiting for "
                "running jobs\n"
            )
            sys.stderr.flush()
            os._exit(ExitCode.SHUTDOWN_TIMEOUT)
        self.signal = signum
        self.event.set()


def run_scheduler(plan: RunPlan) -> ExitCode:
    """Start the scheduler and its HTTP server, run until told to stop, shut down.

    Raises:
        CliError: the port is taken, a store cannot be opened, tracing cannot be set up.
    """
    settings = plan.settings
    stopper = _Stopper()
    stopper.install()
    tracing = TracingSetup(None, [])
    server: StatusServer | None = None
    try:
        if settings.tracing:
            tracing = setup_tracing(settings.trace_console)
        stores = {alias: create_store(url) for alias, url in settings.jobstores.items()}
        if settings.metrics:
            server = _bind(settings.metrics_addr, settings.metrics_port)
        scheduler = build_scheduler(
            settings,
            stores,
            tracer_provider=tracing.provider,
            **plan.extra_scheduler_options,
        )
        store_names = {alias: describe_store(url) for alias, url in settings.jobstores.items()}
        tracker = OutcomeTracker(scheduler)
        scheduler.add_listener(tracker, tracker.MASK)
        if server is not None:
            from obssched.console import attach_span_buffer
            from obssched.observability import make_wsgi_app

            app = make_status_app(
                scheduler,
                tracker,
                store_names,
                make_wsgi_app(),
                settings=settings.console,
                spans=attach_span_buffer(tracing.provider),
                bound=(server.addr,),
            )
            server.start(app)
        # The scheduler starts its stores (once: a store started here first as well would
        # subscribe twice); one that cannot be opened fails the start.
        try:
            scheduler.start(paused=True)
        except Exception as exc:
            raise CliError(
                f"cannot open job store {', '.join(store_names.values())}: "
                f"{type(exc).__name__}: {exc}",
                ExitCode.STORE_UNAVAILABLE,
            ) from exc
        try:
            _add_jobs(scheduler, plan)
        except Exception:
            scheduler.shutdown(wait=False)
            raise
        scheduler.resume()
        _log_started(plan, scheduler, server, tracing, store_names)
        on_stop = (
            plan.on_started(Running(scheduler, server, tracing, store_names))
            if (plan.on_started)
            else None
        )
        _wait(stopper, settings.duration)
        if on_stop is not None:
            on_stop()
        return _shut_down(scheduler, stopper, settings.shutdown_timeout)
    finally:
        if server is not None:
            server.close()
        tracing.shutdown()
        stopper.restore()


def _bind(addr: str, port: int) -> StatusServer:
    try:
        return serve(addr, port)
    except PortInUseError as exc:
        raise CliError(
            f"cannot serve metrics on {addr}:{port}: the port is already in use (another "
            "obssched, or another program); choose another with --metrics-port or "
            "OBSSCHED_METRICS_PORT",
            ExitCode.PORT_IN_USE,
        ) from exc
    except OSError as exc:
        raise CliError(
            f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}; check --metrics-addr "
            "and --metrics-port",
            ExitCode.PORT_IN_USE,
        ) from exc


def _add_jobs(scheduler: BackgroundScheduler, plan: RunPlan) -> None:
    if plan.clear_stores:
        scheduler.remove_all_jobs()
    for options in plan.jobs:
        kwargs = dict(options)
        jobstore = kwargs.get("jobstore", "default")
        try:
            existing = scheduler.get_job(kwargs["id"], jobstore)
        except Exception:
            _logger.warning(
                "Could not read the stored job %r; it will be replaced", kwargs["id"], exc_info=True
            )
            existing = None
        if existing is not None and existing.next_run_time is None:
            # A job paused with `obssched jobs pause` stays paused across restarts.
            kwargs["next_run_time"] = None
            _logger.info("Job %r stays paused, as it is in the store", kwargs["id"])
        scheduler.add_job(replace_existing=True, **kwargs)


def _log_started(
    plan: RunPlan,
    scheduler: BackgroundScheduler,
    server: StatusServer | None,
    tracing: TracingSetup,
    stores: dict[str, str],
) -> None:
    _logger.info(
        "Scheduler %r running %d job(s) from %s; job store%s: %s",
        scheduler.name,
        len(plan.jobs),
        plan.source,
        "s" if len(stores) > 1 else "",
        ", ".join(f"{alias}={url}" for alias, url in stores.items()),
    )
    if server is not None:
        _logger.info(
            "Serving metrics at %s/metrics, health at %s/healthz, status page at %s/",
            server.url,
            server.url,
            server.url,
        )
    _logger.info(
        "Tracing: %s",
        ", ".join(tracing.exporters)
        if tracing.exporters
        else "no exporter (set OTEL_EXPORTER_OTLP_ENDPOINT, or pass --trace-console)",
    )


def _wait(stopper: _Stopper, duration: float | None) -> None:
    # Waiting in short slices keeps the main thread responsive to signals on every platform.
    remaining = duration
    while not stopper.event.is_set():
        step = 0.5 if remaining is None else min(0.5, remaining)
        if stopper.event.wait(step):
            return
        if remaining is not None:
            remaining -= step
            if remaining <= 0:
                _logger.info("Ran for the requested %s s", duration)
                return


def _shut_down(scheduler: BackgroundScheduler, stopper: _Stopper, timeout: float) -> ExitCode:
    reason = signal.Signals(stopper.signal).name if stopper.signal is not None else "duration"
    running = scheduler.get_running_runs()
    _logger.info(
        "Shutting down (%s): waiting up to %s s for %d running job(s)",
        reason,
        timeout,
        len(running),
    )
    done = threading.Event()

    def shutdown() -> None:
        scheduler.shutdown(wait=True)
        done.set()

    threading.Thread(target=shutdown, name="obssched-shutdown", daemon=True).start()
    if not done.wait(timeout):
        # Not get_running_runs() now: the stuck shutdown holds the scheduler's executors lock.
        names = sorted({run.info.job_name for run in running})
        _logger.error(
            "Shutdown timed out after %s s; abandoning running job(s): %s",
            timeout,
            ", ".join(names) or "?",
        )
        return ExitCode.SHUTDOWN_TIMEOUT
    _logger.info("Scheduler stopped cleanly")
    if stopper.signal == signal.SIGINT:
        return ExitCode.INTERRUPTED
    return ExitCode.OK
