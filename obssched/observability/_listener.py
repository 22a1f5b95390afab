"""The built-in metrics listener: turns job events into counters, histograms and gauges.

It reads only what every listener gets (the event objects of :mod:`obssched.events`), so it doubles
as the reference for writing one's own. The hot path (a submission and its terminal event) looks
its series up in a dict keyed by the event's job name and executor and updates them under one lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from obssched.events import (
    EVENT_ALL,
    EVENT_ALL_JOBS_REMOVED,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_QUEUED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    EVENT_NAMES,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import JobTimeoutError
from obssched.observability._metrics import (
    CounterCell,
    HistogramCell,
    MetricStore,
    Moment,
    SpanIds,
)
from obssched.observability._names import JobNames

__all__ = ["LISTENER_MASK", "MetricsListener", "error_type_name"]

LISTENER_MASK = (EVENT_ALL | EVENT_JOB_QUEUED) & ~(
    EVENT_EXECUTOR_ADDED | EVENT_EXECUTOR_REMOVED | EVENT_JOBSTORE_ADDED | EVENT_JOBSTORE_REMOVED
)
"""The events the built-in listeners subscribe to."""

Route = Callable[[Any, "SpanIds | None"], None]
"""Accounts for one kind of event: called with the event and its run span's ids (exemplars)."""

_UNKNOWN = "__unknown__"
_error_type_names: dict[type[BaseException], str] = {}


def error_type_name(exception: BaseException | None) -> str:
    """Return the qualified class name of an exception (``module.Qualname``, builtins bare)."""
    if exception is None:
        return _UNKNOWN
    cls = type(exception)
    name = _error_type_names.get(cls)
    if name is None:
        module = cls.__module__
        name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
        _error_type_names[cls] = name
    return name


class _JobSeries:
    """The cells of one (job_name label, executor) pair, looked up once and kept."""

    __slots__ = (
        "coalesced",
        "errored",
        "errored_labels",
        "executed",
        "max_instances",
        "missed",
        "name_labels",
        "queue_wait",
        "run_error",
        "run_success",
        "start_delay",
        "submitted",
    )

    def __init__(self, store: MetricStore, scheduler: str, label: str, executor: str) -> None:
        job_executor = (scheduler, label, executor)
        self.name_labels = (scheduler, label)
        self.errored_labels = job_executor
        self.submitted = store.counter("obssched_job_submitted", job_executor)
        self.executed = store.counter("obssched_job_executed", job_executor)
        self.max_instances = store.counter("obssched_job_max_instances", job_executor)
        self.missed = store.counter("obssched_job_missed", self.name_labels)
        self.coalesced = store.counter("obssched_job_coalesced", self.name_labels)
        self.errored: dict[str, CounterCell] = {}
        # Histograms appear with the first run that ends, not when the job is added: a job that
        # never ran would otherwise cost four series of 20+ buckets each.
        self.run_success: HistogramCell | None = None
        self.run_error: HistogramCell | None = None
        self.start_delay: HistogramCell | None = None
        self.queue_wait: HistogramCell | None = None

    def outcome_histogram(self, store: MetricStore, failed: bool) -> HistogramCell:
        """Return the run-duration cell of an outcome, creating it on first use."""
        outcome = "error" if failed else "success"
        cell = store.histogram("obssched_job_run_duration_seconds", (*self.errored_labels, outcome))
        if failed:
            self.run_error = cell
        else:
            self.run_success = cell
        return cell

    def errored_counter(self, store: MetricStore, error_type: str) -> CounterCell:
        """Return the error counter of an exception type, creating it on first use."""
        counter = self.errored.get(error_type)
        if counter is None:
            counter = store.counter("obssched_job_errored", (*self.errored_labels, error_type))
            self.errored[error_type] = counter
        return counter

    def timing_histograms(self, store: MetricStore) -> tuple[HistogramCell, HistogramCell]:
        """Return the start-delay and queue-wait cells, creating them on first use."""
        scheduler, _, executor = self.errored_labels
        self.queue_wait = store.histogram(
            "obssched_executor_queue_wait_seconds", (scheduler, executor)
        )
        self.start_delay = store.histogram("obssched_job_start_delay_seconds", self.errored_labels)
        return self.start_delay, self.queue_wait


class MetricsListener:
    """Updates one registry's :class:`MetricStore` from the events of one scheduler.

    Thread-safe: execution events may arrive from worker threads concurrently. Each event is
    accounted for under one acquisition of the store's lock.

    Args:
        store: the registry's metric store.
        scheduler_name: the ``scheduler`` label value.
        names: the scheduler's job names, built with the store's lock
            (``JobNames(limit, lock=store.lock)``) so that a removed job is counted and forgotten
            under one acquisition.

    Raises:
        ValueError: ``names`` guards itself with another lock.
    """

    def __init__(self, store: MetricStore, scheduler_name: str, names: JobNames) -> None:
        if names.lock is not store.lock:
            raise ValueError("the job names must share the metric store's lock")
        self._store = store
        self._scheduler = scheduler_name
        self._names = names
        self._lock = store.lock
        self._bounds = store.bounds
        self._lower_bounds = store.lower_bounds
        self._discard = HistogramCell(len(store.bounds))
        """Where the timings a run lacks are observed: never exposed."""
        self._series: dict[tuple[str, str], _JobSeries] = {}
        # Every event counter exists at 0 from the start, so rates exist before the first event.
        self._event_cells: dict[int, CounterCell] = {
            code: store.counter("obssched_events", (scheduler_name, name))
            for code, name in EVENT_NAMES.items()
            if code & LISTENER_MASK
        }
        cells = self._event_cells
        self._executed_cell = cells[EVENT_JOB_EXECUTED]
        self._error_cell = cells[EVENT_JOB_ERROR]
        self._submitted_cell = cells[EVENT_JOB_SUBMITTED]
        self._removed_cell = cells[EVENT_JOB_REMOVED]
        self._last_success = store.gauge_series("obssched_job_last_success_timestamp_seconds")
        self._last_error = store.gauge_series("obssched_job_last_error_timestamp_seconds")
        self._routes: dict[int, Route] = {
            EVENT_JOB_EXECUTED: self._ended,
            EVENT_JOB_ERROR: self._ended,
            EVENT_JOB_SUBMITTED: self._submitted,
            EVENT_JOB_MISSED: self._missed,
            EVENT_JOB_MAX_INSTANCES: self._max_instances,
            EVENT_JOB_QUEUED: self._queued,
            EVENT_JOB_ADDED: self._added,
            EVENT_JOB_MODIFIED: self._added,
            EVENT_JOB_REMOVED: self._removed,
            EVENT_ALL_JOBS_REMOVED: self._all_removed,
        }
        """What :meth:`handle` calls for each event code (others are only counted)."""

    def job_added(self, job_id: str, job_name: str, executor: str, jobstore: str | None) -> None:
        """Start counting a job: its counters exist at 0 before its first run."""
        label, freed = self._names.job_added(job_id, job_name, jobstore)
        if freed is not None:
            self._store.forget_gauges((self._scheduler, freed))
        self._series_for_label(label, executor)

    def run_routes(self) -> dict[int, Callable[[Any], None]]:
        """The handlers of the events every run sends, for a dispatcher to call directly
        (without exemplars): submission, execution, error and a finished job's removal."""
        return {
            EVENT_JOB_SUBMITTED: self._submitted,
            EVENT_JOB_EXECUTED: self._ended,
            EVENT_JOB_ERROR: self._ended,
            EVENT_JOB_REMOVED: self._removed,
        }

    def handle(self, event: SchedulerEvent, exemplar: SpanIds | None = None) -> None:
        """Account for one event; ``exemplar`` holds the run span's trace and span ids."""
        route = self._routes.get(event.code)
        if route is not None:
            route(event, exemplar)
        else:
            self._count(event)

    def _count(self, event: SchedulerEvent) -> None:
        """Count an event that needs nothing more (``obssched_events_total``)."""
        cell = self._cell(event.code)
        with self._lock:
            cell.value += 1.0

    def _cell(self, code: int) -> CounterCell:
        cell = self._event_cells.get(code)
        if cell is None:
            name = EVENT_NAMES.get(code, str(code))
            cell = self._store.counter("obssched_events", (self._scheduler, name))
            self._event_cells[code] = cell
        return cell

    def _submitted(self, event: JobSubmissionEvent, exemplar: SpanIds | None = None) -> None:
        cell = self._submitted_cell
        series = self._series.get((event.job_name or _UNKNOWN, event.executor or _UNKNOWN))
        if series is None:
            series = self._series_of(event)
        coalesced = len(event.coalesced_run_times)
        lock = self._lock
        lock.acquire()
        cell.value += 1.0
        series.submitted.value += 1.0
        if coalesced:
            series.coalesced.value += coalesced
        lock.release()

    def _missed(self, event: JobExecutionEvent, exemplar: SpanIds | None = None) -> None:
        cell = self._cell(event.code)
        series = self._series_of(event)
        coalesced = len(event.coalesced_run_times)
        with self._lock:
            cell.value += 1.0
            series.missed.value += 1.0
            series.coalesced.value += coalesced

    def _max_instances(self, event: JobSubmissionEvent, exemplar: SpanIds | None = None) -> None:
        cell = self._cell(event.code)
        series = self._series_of(event)
        coalesced = len(event.coalesced_run_times)
        with self._lock:
            cell.value += 1.0
            series.max_instances.value += 1.0
            series.coalesced.value += coalesced

    def _queued(self, event: JobSubmissionEvent, exemplar: SpanIds | None = None) -> None:
        # Rare (jobs with overlap="queue"), so its series is made on first use.
        cell = self._cell(event.code)
        series = self._series_of(event)
        queued = self._store.counter("obssched_job_queued", series.errored_labels)
        runs = len(event.scheduled_run_times)
        with self._lock:
            cell.value += 1.0
            queued.value += runs

    def _added(self, event: JobEvent, exemplar: SpanIds | None = None) -> None:
        cell = self._cell(event.code)
        with self._lock:
            cell.value += 1.0
        if event.job_name is not None:
            self.job_added(event.job_id, event.job_name, event.executor or _UNKNOWN, event.jobstore)

    def _removed(self, event: JobEvent, exemplar: SpanIds | None = None) -> None:
        # A removal per finished date job: counted and forgotten under one acquisition of the
        # lock the names share with the store.
        cell = self._removed_cell
        names = self._names
        job_id = event.job_id
        lock = self._lock
        lock.acquire()
        try:
            cell.value += 1.0
            freed = names.forget(job_id)
        finally:
            lock.release()
        if freed is not None:
            self._store.forget_gauges((self._scheduler, freed))

    def _all_removed(self, event: SchedulerEvent, exemplar: SpanIds | None = None) -> None:
        cell = self._cell(event.code)
        with self._lock:
            cell.value += 1.0
        for freed in self._names.jobstore_cleared(event.alias):
            self._store.forget_gauges((self._scheduler, freed))

    def _ended(self, event: JobExecutionEvent, exemplar: SpanIds | None = None) -> None:
        # The hot path of every run: one lock, no Python-level calls while it is held, and the
        # end time kept as a (submission time, offset) pair until a scrape reads it, so no
        # datetime is built per run.
        series = self._series.get((event.job_name or _UNKNOWN, event.executor or _UNKNOWN))
        if series is None:
            series = self._series_of(event)
        duration = event.run_duration
        queue_wait = event.queue_wait
        submitted_at = event.submitted_at
        timed_out = None
        if event.code == EVENT_JOB_ERROR:
            cell = self._error_cell
            exception = event.exception
            counter = series.errored_counter(self._store, error_type_name(exception))
            if isinstance(exception, JobTimeoutError):
                # Rare, so its series is made on first use rather than for every job.
                timed_out = self._store.counter("obssched_job_timeouts", series.name_labels)
            run_cell = series.run_error or series.outcome_histogram(self._store, True)
            last = self._last_error
        else:
            cell = self._executed_cell
            counter = series.executed
            run_cell = series.run_success or series.outcome_histogram(self._store, False)
            last = self._last_success
        delay_cell = series.start_delay
        wait_cell = series.queue_wait
        if delay_cell is None or wait_cell is None:
            delay_cell, wait_cell = series.timing_histograms(self._store)
        moment: Moment | None
        if duration is not None and queue_wait is not None and submitted_at is not None:
            # The start delay as JobExecutionEvent.start_delay works it out, without the call.
            delay = (submitted_at - event.scheduled_run_time).total_seconds() + queue_wait
            moment = (submitted_at, queue_wait + duration)
        else:
            # A run that never started: the timings it lacks are observed in a cell that is
            # never exposed, so that the locked section below has no branches.
            finished_at = event.finished_at
            moment = None if finished_at is None else (finished_at, 0.0)
            start_delay = event.start_delay
            discard = self._discard
            if duration is None:
                duration, run_cell = 0.0, discard
            if queue_wait is None:
                queue_wait, wait_cell = 0.0, discard
            if start_delay is None:
                start_delay, delay_cell = 0.0, discard
            delay = start_delay
        late_by = delay if delay > 0.0 else 0.0
        # The buckets are found before taking the lock: a section without calls gives the
        # interpreter no point to hand the GIL to another thread while the lock is held, the
        # start of a convoy of worker threads queueing on it.
        # Each series' values tend to stay in one bucket (the first, for short runs that start
        # on time): two comparisons confirm the bucket of the series' last observation, and
        # only a value that moved is searched for (bisect_left, a C call comparing float
        # objects several times). Either way the index is bisect_left's.
        bounds = self._bounds
        lows = self._lower_bounds
        run_index = run_cell.last_index
        if not (duration <= bounds[run_index] and duration > lows[run_index]):
            run_index = run_cell.last_index = bisect_left(bounds, duration)
        delay_index = delay_cell.last_index
        if not (late_by <= bounds[delay_index] and late_by > lows[delay_index]):
            delay_index = delay_cell.last_index = bisect_left(bounds, late_by)
        wait_index = wait_cell.last_index
        if not (queue_wait <= bounds[wait_index] and queue_wait > lows[wait_index]):
            wait_index = wait_cell.last_index = bisect_left(bounds, queue_wait)
        count_ex = duration_ex = delay_ex = None
        if exemplar is not None:
            count_ex = (exemplar, 1.0, moment)
            duration_ex = (exemplar, duration, moment)
            delay_ex = (exemplar, delay, moment)
        labels = series.name_labels
        users = self._names.users
        lock = self._lock
        lock.acquire()
        try:
            cell.value += 1.0
            counter.value += 1.0
            run_cell.counts[run_index] += 1
            run_cell.total += duration
            delay_cell.counts[delay_index] += 1
            delay_cell.total += late_by
            wait_cell.counts[wait_index] += 1
            wait_cell.total += queue_wait
            if count_ex is not None:
                counter.exemplar = count_ex
                run_cell.exemplars[run_index] = duration_ex
                delay_cell.exemplars[delay_index] = delay_ex
            # A date job is removed once submitted: its end must not bring back the series its
            # removal dropped (a dict lookup, no call).
            if moment is not None and labels[1] in users:
                last[labels] = moment
        finally:
            lock.release()
        if timed_out is not None:
            with lock:
                timed_out.value += 1.0

    def _series_of(self, event: JobEvent) -> _JobSeries:
        series = self._series.get((event.job_name or _UNKNOWN, event.executor or _UNKNOWN))
        if series is None:
            label = self._names.label(event.job_name or _UNKNOWN)
            series = self._series_for_label(label, event.executor or _UNKNOWN)
        return series

    def _series_for_label(self, label: str, executor: str) -> _JobSeries:
        series = self._series.get((label, executor))
        if series is None:
            series = _JobSeries(self._store, self._scheduler, label, executor)
            self._series[(label, executor)] = series
        return series
