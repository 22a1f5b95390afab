"""What the collector reads from each attached scheduler at scrape time.

Scrape-time gauges (next run times, job info, running runs, executor load, scheduler state and
heartbeat) are read while the registry is collected, so they are never stale and need no timer
thread. A scheduler is read through its public members and its ``context`` (the executors and job
stores); a stock APScheduler 3 scheduler, which has no context, through its public API alone.
Schedulers are held weakly: one that is dropped without being detached simply disappears.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from obssched._context import SchedulerContext
from obssched._runs import RunningRun
from obssched.clock import Clock, SystemClock
from obssched.observability._names import JobNames

__all__ = [
    "GAUGES",
    "SCRAPED_COUNTERS",
    "Rows",
    "SchedulerSource",
    "collect_scheduler",
    "context_or_none",
    "jobstore_of",
]

SCRAPED_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_jobstore_errors": (
        "Job store operations that failed (they are retried).",
        ("scheduler", "jobstore"),
    ),
    "obssched_job_abandoned": (
        "Runs abandoned by a scheduler node that died while running them.",
        ("scheduler", "job_name"),
    ),
}
"""Counters read from the job stores at scrape time."""

_STATES = ("stopped", "running", "paused")
_JOB_STATES = ("scheduled", "paused", "pending")

_LISTENER_ERRORS = "Exceptions raised by event listeners, by listener name."
_LISTENER_ERROR_LABELS = ("scheduler", "listener")
_JOB = ("scheduler", "job_name")
_EXECUTOR = ("scheduler", "executor")
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_job_next_run_timestamp_seconds": (
        "When the job runs next (absent while paused).",
        _JOB,
    ),
    "obssched_job_info": (
        "The job's id, executor, job store and trigger (always 1).",
        ("scheduler", "job_name", "job_id", "executor", "jobstore", "trigger"),
    ),
    "obssched_jobs": ("Jobs by job store and state.", ("scheduler", "jobstore", "state")),
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
    "obssched_jobstore_unloadable_jobs": (
        "Stored jobs that cannot be loaded (their callable is gone); they are kept, not deleted.",
        ("scheduler", "jobstore"),
    ),
    "obssched_cluster_nodes": (
        "Live scheduler nodes sharing the job store (cluster mode).",
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
    """

    def __init__(
        self,
        scheduler: Any,
        name: str,
        names: JobNames,
        running_runs: Callable[[], Iterable[RunningRun]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._scheduler = weakref.ref(scheduler)
        self.name = name
        self.names = names
        self._running_runs = running_runs
        self.clock: Clock = clock or getattr(scheduler, "clock", None) or SystemClock()
        self._own_errors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._trigger_texts: dict[int, tuple[object, str]] = {}

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
                known = (trigger, str(trigger))
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

    def health(self) -> tuple[bool, str]:
        """Say whether the scheduling loop is running and woke up recently, and why not."""
        scheduler = self.scheduler
        if scheduler is None:
            return False, f"scheduler {self.name!r}: gone"
        state = getattr(scheduler, "state", 0)
        if state == 0:
            return False, f"scheduler {self.name!r}: stopped"
        # A background scheduler's loop thread, read privately until schedulers say whether
        # their loop is alive: a dead loop is reported now rather than after three heartbeats.
        thread = getattr(scheduler, "_thread", None)
        if thread is not None and not thread.is_alive():
            return False, f"scheduler {self.name!r}: its thread has died"
        interval = getattr(scheduler, "heartbeat_interval", None)
        if interval is None:  # a stock APScheduler scheduler: no heartbeat to judge by
            return True, f"scheduler {self.name!r}: {_STATES[state]}"
        woke: datetime | None = getattr(scheduler, "last_wakeup_at", None)
        if woke is None:
            return False, f"scheduler {self.name!r}: has not woken up yet"
        age = (self.clock.now() - woke).total_seconds()
        if age > 3 * float(interval):
            return False, f"scheduler {self.name!r}: last woke up {age:.1f} s ago"
        return True, f"scheduler {self.name!r}: {_STATES[state]}, woke up {age:.1f} s ago"


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
    """Append the scrape-time samples of one scheduler to ``out``."""
    sched = source.name
    label_of = source.names.label
    context = context_or_none(scheduler)
    stores: Mapping[str, Any] = {} if context is None else context.jobstores
    executors: Mapping[str, Any] = {} if context is None else context.executors
    next_runs: dict[str, datetime] = {}
    per_store: dict[str, list[int]] = {alias: [0, 0, 0] for alias in list(stores)}
    job_labels: set[str] = set()
    info = out["obssched_job_info"].append
    trigger_text = source.trigger_texts()
    for job in scheduler.get_jobs():
        label = label_of(job.name)
        job_labels.add(label)
        store = jobstore_of(job) or "default"
        counts = per_store.get(store)
        if counts is None:
            counts = per_store[store] = [0, 0, 0]
        next_run: datetime | None = job.next_run_time
        if getattr(job, "pending", False):
            counts[2] += 1
        elif next_run is None:
            counts[1] += 1
        else:
            counts[0] += 1
            earlier = next_runs.get(label)
            if earlier is None or next_run < earlier:
                next_runs[label] = next_run
        info(((sched, label, job.id, job.executor, store, trigger_text(job.trigger)), 1.0))
    out["obssched_job_next_run_timestamp_seconds"].extend(
        ((sched, label), next_run.timestamp()) for label, next_run in next_runs.items()
    )
    out["obssched_jobs"].extend(
        ((sched, store, state), float(count))
        for store, counts in per_store.items()
        for state, count in zip(_JOB_STATES, counts, strict=True)
    )
    _collect_running(source, sched, job_labels, out)
    _collect_executors(executors, sched, out)
    _collect_stores(stores, sched, label_of, out)
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


def _collect_stores(
    stores: Mapping[str, Any], sched: str, label_of: Callable[[str], str], out: Rows
) -> None:
    for alias, store in list(stores.items()):
        if not hasattr(store, "unloadable_count"):
            continue  # a store written for APScheduler 3
        try:
            out["obssched_jobstore_unloadable_jobs"].append(
                ((sched, alias), float(store.unloadable_count()))
            )
            out["obssched_jobstore_errors"].append(((sched, alias), float(store.error_count)))
            nodes = store.cluster_nodes()
            if nodes is not None:
                out["obssched_cluster_nodes"].append(((sched, alias), float(nodes)))
            abandoned: dict[str, float] = {}
            for name, count in store.abandoned_counts.items():
                label = label_of(name)
                abandoned[label] = abandoned.get(label, 0.0) + count
            out["obssched_job_abandoned"].extend(
                ((sched, label), count) for label, count in abandoned.items()
            )
        except Exception:
            # A store that cannot answer (its database is down) must not break the scrape;
            # its error counter tells the story.
            continue


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
