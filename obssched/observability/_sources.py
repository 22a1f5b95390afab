"""What the collector reads from each attached scheduler at scrape time.

Scrape-time gauges (next run times, job info, running runs, executor load, scheduler state and
heartbeat) are read while the registry is collected, and need no timer thread. The job stores
are the exception: they are read through a :class:`~._reader.StoreReader`, which waits for them
only briefly and otherwise serves their last reading (see :mod:`._reader`). A scheduler is read
through its public members and its ``context`` (the executors and job
stores); a stock APScheduler 3 scheduler, which has no context, through its public API alone.
Schedulers are held weakly: one that is dropped without being detached simply disappears.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from obssched._context import SchedulerContext
from obssched._runs import RunningRun
from obssched.clock import Clock, SystemClock
from obssched.observability._health import judge
from obssched.observability._names import JobNames, safe_text
from obssched.observability._reader import JOB_LIST, Reading, StoreReader, UnitState, read_store

__all__ = [
    "DEFAULT_HEALTH_LIMIT",
    "GAUGES",
    "SCRAPED_COUNTERS",
    "Rows",
    "SchedulerSource",
    "check_health_limit",
    "collect_scheduler",
    "context_or_none",
    "jobstore_of",
]

SCRAPED_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_jobstore_errors": (
        "Job store operations that failed (they are retried), and failed reads of the store "
        "for the metrics.",
        ("scheduler", "jobstore"),
    ),
    "obssched_scheduler_errors": (
        "Failures the scheduling loop caught and went on from, by stage: trigger (a trigger "
        "raised; its job is paused and reported with EVENT_JOB_ERROR), store (a job store call "
        "failed; it is retried with backoff), executor (no such executor, or a submission "
        "failed) and listener (an event listener raised).",
        ("scheduler", "stage"),
    ),
    "obssched_job_abandoned": (
        "Runs abandoned by a scheduler node that died while running them.",
        ("scheduler", "job_name"),
    ),
}
"""Counters read from the job stores at scrape time."""

DEFAULT_HEALTH_LIMIT = 60.0
"""Seconds a fault (a store that does not answer, overdue jobs, a loop that sleeps) may last
before ``/healthz`` reports it."""

_STATES = ("stopped", "running", "paused")
_JOB_STATES = ("scheduled", "paused", "pending")

_LISTENER_ERRORS = "Exceptions raised by event listeners, by listener name."
_LISTENER_ERROR_LABELS = ("scheduler", "listener")
_JOB = ("scheduler", "job_name")
_EXECUTOR = ("scheduler", "executor")
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_job_next_run_timestamp_seconds": (
        "When the job runs next (absent while paused). A job paused because its trigger raised "
        "keeps the run time that was due, so that it shows as overdue until it is rescheduled, "
        "resumed or removed.",
        _JOB,
    ),
    "obssched_job_info": (
        "The job's id, executor, job store and trigger (always 1).",
        ("scheduler", "job_name", "job_id", "executor", "jobstore", "trigger"),
    ),
    "obssched_jobs": ("Jobs by job store and state.", ("scheduler", "jobstore", "state")),
    "obssched_job_timeout_seconds": (
        "The job's timeout (absent for a job without one; the largest of the jobs sharing a name).",
        _JOB,
    ),
    "obssched_job_running": ("Runs of the job whose body is executing now.", _JOB),
    "obssched_job_running_since_timestamp_seconds": (
        "When the oldest running run of the job started.",
        _JOB,
    ),
    "obssched_executor_running_jobs": ("Job bodies the executor is running now.", _EXECUTOR),
    "obssched_executor_pending_jobs": (
        "Runs submitted to the executor that have not started.",
        _EXECUTOR,
    ),
    "obssched_executor_max_workers": ("The executor's worker limit.", _EXECUTOR),
    "obssched_scheduler_state": ("1 for the scheduler's current state.", ("scheduler", "state")),
    "obssched_scheduler_last_wakeup_timestamp_seconds": (
        "When the scheduling loop last ran.",
        ("scheduler",),
    ),
    "obssched_build_info": ("The obssched version (always 1).", ("version",)),
    "obssched_listener_max_duration_seconds": (
        "The longest timed call of the event listener (one dispatch in 32 is timed).",
        ("scheduler", "listener"),
    ),
    "obssched_jobstore_unloadable_jobs": (
        "Stored jobs that cannot be loaded (their callable is gone); they are kept, not deleted.",
        ("scheduler", "jobstore"),
    ),
    "obssched_jobstore_up": (
        "1 while the job store answers reads, 0 while its reads fail or hang.",
        ("scheduler", "jobstore"),
    ),
    "obssched_jobstore_last_success_timestamp_seconds": (
        "When the last successful read of the job store started: the job gauges are as of then.",
        ("scheduler", "jobstore"),
    ),
    "obssched_cluster_nodes": (
        "Live scheduler nodes sharing the job store (cluster mode).",
        ("scheduler", "jobstore"),
    ),
    "obssched_cluster_queued_runs": (
        "Runs this node claimed from the shared job store that have not begun (its local queue; "
        "cluster mode).",
        ("scheduler", "jobstore"),
    ),
    "obssched_cluster_max_queued_runs": (
        "How many claimed runs this node may queue (the store's max_queued_runs; cluster mode).",
        ("scheduler", "jobstore"),
    ),
}
"""Scrape-time gauge families: name -> (help, label names)."""

Rows = dict[str, list[tuple[tuple[str, ...], float]]]
"""Scrape-time samples by family: (label values in the family's label name order, value)."""


class SchedulerSource:
    """What the collector reads from one attached scheduler.

    Args:
        scheduler: an obssched scheduler or a stock APScheduler 3 one (held weakly).
        name: the ``scheduler`` label value.
        names: the scheduler's job name labels (shared with its listener).
        running_runs: returns the in-flight runs (``scheduler.get_running_runs`` by default).
        clock: the clock health is judged by (the scheduler's by default).
        health_limit: how long, in seconds, a fault may last before :meth:`health` reports it
            (see :meth:`health`).
    """

    def __init__(
        self,
        scheduler: Any,
        name: str,
        names: JobNames,
        running_runs: Callable[[], Iterable[RunningRun]] | None = None,
        clock: Clock | None = None,
        health_limit: float = DEFAULT_HEALTH_LIMIT,
    ) -> None:
        self._scheduler = weakref.ref(scheduler)
        self.name = name
        self.names = names
        self._running_runs = running_runs
        self.clock: Clock = clock or getattr(scheduler, "clock", None) or SystemClock()
        self._own_errors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._trigger_texts: dict[int, tuple[object, str]] = {}
        self.health_limit = check_health_limit(health_limit)
        self.reader = StoreReader(self.clock)

    def trigger_texts(self) -> Callable[[object], str]:
        """Return a function formatting triggers, reusing the last scrape's text per object.

        Formatting a trigger costs more than the rest of its job's samples; triggers are replaced,
        not changed, when a job is rescheduled. Only the triggers seen in this scrape are kept.
        """
        previous = self._trigger_texts
        current: dict[int, tuple[object, str]] = {}
        self._trigger_texts = current

        def text(trigger: object) -> str:
            key = id(trigger)
            known = previous.get(key)
            if known is None or known[0] is not trigger:
                known = (trigger, safe_text(str(trigger)))
            current[key] = known
            return known[1]

        return text

    def listener_failed(self, listener: str) -> None:
        """Count an exception that a built-in listener caught in itself."""
        with self._lock:
            self._own_errors[listener] = self._own_errors.get(listener, 0) + 1

    def listener_errors(self) -> dict[str, int]:
        """Return the exceptions raised by listeners, by listener name."""
        scheduler = self.scheduler
        getter = getattr(scheduler, "get_listener_errors", None)
        counts: dict[str, int] = dict(getter()) if getter is not None else {}
        with self._lock:
            for name, count in self._own_errors.items():
                counts[name] = counts.get(name, 0) + count
        return counts

    @property
    def scheduler(self) -> Any:
        """The scheduler, or ``None`` once it was garbage-collected."""
        return self._scheduler()

    def running_runs(self) -> Iterable[RunningRun]:
        """Return the runs in flight."""
        if self._running_runs is not None:
            return self._running_runs()
        scheduler = self.scheduler
        getter = getattr(scheduler, "get_running_runs", None)
        return () if getter is None else getter()

    def refresh(self) -> list[UnitState]:
        """Read the job stores (bounded, see :class:`StoreReader`); return what is known of each.

        A running obssched scheduler's stores are read one by one through its context, so one
        failing store does not hide the others; a stopped one (whose jobs wait in it, not in its
        stores) or a stock APScheduler 3 one is read through its ``get_jobs()``.
        """
        scheduler = self.scheduler
        if scheduler is None:
            return []
        return self.reader.refresh(job_reads(scheduler))

    def health(self, limit: float | None = None) -> tuple[bool, str]:
        """Say whether the scheduler is doing its work, and why not.

        It is unhealthy while it is stopped or its loop thread has died; while its loop has not
        woken up for longer than the limit or three heartbeat intervals, whichever is shorter;
        while a job store has failed every read for longer than the limit; and while it runs
        (not paused) but a job's next run time lies more than the limit before its store was
        last read. It is healthy again as soon as the fault ends.

        Args:
            limit: seconds a fault may last before it is reported (this source's
                ``health_limit`` when ``None``).
        """
        return judge(self, self.health_limit if limit is None else check_health_limit(limit))


def job_reads(scheduler: Any) -> dict[str, Callable[[], Reading]]:
    """Return what reads ``scheduler``'s jobs, by unit: each store of a running obssched
    scheduler, or its ``get_jobs()`` (a stopped one, whose jobs wait in it rather than in its
    stores, or a stock APScheduler 3 one), for a :class:`StoreReader` to refresh."""
    context = context_or_none(scheduler)
    stores = {} if context is None else dict(context.jobstores)
    if (
        stores
        and getattr(scheduler, "state", 0) != 0
        and all(callable(getattr(store, "get_all_jobs", None)) for store in stores.values())
    ):
        # Read without the scheduler's lock, which the loop holds through a whole step: a
        # store hanging in a step would otherwise hold up the reads of every store. The SQL
        # stores lock themselves; a memory store's read that races a write is retried.
        return {alias: partial(read_store, store) for alias, store in stores.items()}
    get_jobs = scheduler.get_jobs
    return {JOB_LIST: lambda: Reading(list(get_jobs()))}


def check_health_limit(limit: float) -> float:
    """Return ``limit`` as seconds, refusing what is not a positive number."""
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        raise ValueError(f"the health limit must be a positive number of seconds, got {limit!r}")
    return float(limit)


def context_or_none(scheduler: Any) -> SchedulerContext | None:
    """Return an obssched scheduler's context; ``None`` for a stock APScheduler 3 scheduler."""
    context = getattr(scheduler, "context", None)
    return context if isinstance(context, SchedulerContext) else None


def jobstore_of(job: Any) -> str | None:
    """Return the alias of the store holding a job (``None``: not stored yet)."""
    # APScheduler 3's Job, whose attributes obssched's keeps, has its store alias nowhere else.
    alias: str | None = getattr(job, "_jobstore_alias", None)
    return alias


def collect_scheduler(source: SchedulerSource, scheduler: Any, out: Rows) -> None:
    """Append the scrape-time samples of one scheduler to ``out``.

    Jobs and job store figures come from the source's last readings (see :mod:`._reader`), so
    this never waits on a store for longer than the reader's bounded wait.
    """
    sched = source.name
    label_of = source.names.label
    context = context_or_none(scheduler)
    executors: Mapping[str, Any] = {} if context is None else context.executors
    units = source.refresh()
    next_runs: dict[str, datetime] = {}
    timeouts: dict[str, float] = {}
    per_store: dict[str, list[int]] = {}
    if units and units[0].key == JOB_LIST and context is not None:
        per_store = {alias: [0, 0, 0] for alias in list(context.jobstores)}
    job_labels: set[str] = set()
    info = out["obssched_job_info"].append
    trigger_text = source.trigger_texts()
    broken: dict[str, datetime] = {}
    stage_counts: dict[str, int] = {}
    if context is not None:
        broken = context.stage_errors.broken_jobs()
        stage_counts = context.stage_errors.counts()
    for unit in units:
        reading = unit.reading
        if unit.key != JOB_LIST:
            _collect_store(unit, sched, label_of, out)
            if reading is not None:
                per_store[unit.key] = [0, 0, 0]
        if reading is None:
            continue
        for job in reading.jobs:
            label = label_of(job.name)
            job_labels.add(label)
            store = unit.key or jobstore_of(job) or "default"
            counts = per_store.get(store)
            if counts is None:
                counts = per_store[store] = [0, 0, 0]
            next_run: datetime | None = job.next_run_time
            if getattr(job, "pending", False):
                counts[2] += 1
            elif next_run is None:
                counts[1] += 1
                next_run = broken.get(job.id) if broken else None
                if next_run is not None:
                    earlier = next_runs.get(label)
                    if earlier is None or next_run < earlier:
                        next_runs[label] = next_run
            else:
                counts[0] += 1
                earlier = next_runs.get(label)
                if earlier is None or next_run < earlier:
                    next_runs[label] = next_run
            timeout = getattr(job, "timeout", None)  # APScheduler 3's jobs have none
            if timeout is not None and timeout > timeouts.get(label, 0.0):
                timeouts[label] = float(timeout)
            # The job id is anyone's text too: the renderers make it safe (see safe_labels).
            info(((sched, label, job.id, job.executor, store, trigger_text(job.trigger)), 1.0))
    out["obssched_job_next_run_timestamp_seconds"].extend(
        ((sched, label), next_run.timestamp()) for label, next_run in next_runs.items()
    )
    out["obssched_job_timeout_seconds"].extend(
        ((sched, label), timeout) for label, timeout in timeouts.items()
    )
    out["obssched_jobs"].extend(
        ((sched, store, state), float(count))
        for store, counts in per_store.items()
        for state, count in zip(_JOB_STATES, counts, strict=True)
    )
    stage_counts["listener"] = sum(source.listener_errors().values())
    if context is not None:
        out["obssched_listener_max_duration_seconds"].extend(
            ((sched, name), longest) for name, (_, _, longest) in context.events.timings().items()
        )
    out["obssched_scheduler_errors"].extend(
        ((sched, stage), float(count)) for stage, count in stage_counts.items()
    )
    _collect_running(source, sched, job_labels, out)
    _collect_executors(executors, sched, out)
    state = getattr(scheduler, "state", 0)
    out["obssched_scheduler_state"].extend(
        ((sched, name), 1.0 if index == state else 0.0) for index, name in enumerate(_STATES)
    )
    woke: datetime | None = getattr(scheduler, "last_wakeup_at", None)
    if woke is not None:
        out["obssched_scheduler_last_wakeup_timestamp_seconds"].append(((sched,), woke.timestamp()))


def _collect_running(source: SchedulerSource, sched: str, job_labels: set[str], out: Rows) -> None:
    running: dict[str, int] = dict.fromkeys(job_labels, 0)
    since: dict[str, float] = {}
    for run in source.running_runs():
        if run.started_at is None:
            continue
        label = source.names.label(run.info.job_name)
        running[label] = running.get(label, 0) + 1
        ts = run.started_at.timestamp()
        if label not in since or ts < since[label]:
            since[label] = ts
    out["obssched_job_running"].extend(
        ((sched, label), float(count)) for label, count in running.items()
    )
    out["obssched_job_running_since_timestamp_seconds"].extend(
        ((sched, label), ts) for label, ts in since.items()
    )


def _collect_store(unit: UnitState, sched: str, label_of: Callable[[str], str], out: Rows) -> None:
    key = (sched, unit.key)
    reading = unit.reading
    out["obssched_jobstore_up"].append((key, 1.0 if unit.up else 0.0))
    if unit.succeeded_at is not None:
        out["obssched_jobstore_last_success_timestamp_seconds"].append(
            (key, unit.succeeded_at.timestamp())
        )
    store_errors = 0 if reading is None else reading.store_errors
    out["obssched_jobstore_errors"].append((key, float(store_errors + unit.failed_reads)))
    if reading is None or reading.unloadable is None:
        return  # never read yet, or a store written for APScheduler 3
    out["obssched_jobstore_unloadable_jobs"].append((key, float(reading.unloadable)))
    if reading.nodes is not None:
        out["obssched_cluster_nodes"].append((key, float(reading.nodes)))
    if reading.queue is not None:
        queued, limit = reading.queue
        out["obssched_cluster_queued_runs"].append((key, float(queued)))
        out["obssched_cluster_max_queued_runs"].append((key, float(limit)))
    abandoned: dict[str, float] = {}
    for name, count in reading.abandoned.items():
        label = label_of(name)
        abandoned[label] = abandoned.get(label, 0.0) + count
    out["obssched_job_abandoned"].extend(
        ((sched, label), count) for label, count in abandoned.items()
    )


def _collect_executors(executors: Mapping[str, Any], sched: str, out: Rows) -> None:
    for alias, executor in list(executors.items()):
        for family, attribute in (
            ("obssched_executor_running_jobs", "running_jobs"),
            ("obssched_executor_pending_jobs", "pending_jobs"),
            ("obssched_executor_max_workers", "max_workers"),
        ):
            value = getattr(executor, attribute, None)
            if value is None and attribute == "max_workers":
                # An APScheduler 3 pool executor added to an obssched scheduler keeps its worker
                # limit only in its pool's private field; obssched's executors say it publicly.
                value = getattr(getattr(executor, "_pool", None), "_max_workers", None)
            if isinstance(value, int | float):
                out[family].append(((sched, alias), float(value)))
