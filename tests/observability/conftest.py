"""Fixtures for the observability tests: a fake scheduler driven by hand-made events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from obssched._context import SchedulerContext
from obssched._eventbus import EventBus
from obssched._runs import RunInfo, RunningRun
from obssched.events import (
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self._now = now
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


@dataclass
class FakeJob:
    id: str
    name: str
    executor: str = "default"
    trigger: str = "interval[0:01:00]"
    next_run_time: datetime | None = T0 + timedelta(minutes=1)
    pending: bool = False
    _jobstore_alias: str = "default"


@dataclass
class FakeExecutor:
    running_jobs: int = 0
    pending_jobs: int = 0
    max_workers: int | None = 10


@dataclass
class FakeScheduler:
    """Just the public surface the built-in listeners read, with events dispatched by the test.

    Its ``context`` is a real :class:`SchedulerContext` whose event bus delivers what the test
    dispatches, and whose executor and job store views show ``executors`` and ``jobstores``.
    """

    name: str = "default"
    clock: FakeClock = field(default_factory=FakeClock)
    state: int = 1
    heartbeat_interval: float = 10.0
    last_wakeup_at: datetime | None = T0
    jobs: list[FakeJob] = field(default_factory=list)
    runs: list[RunningRun] = field(default_factory=list)
    executors: dict[str, FakeExecutor] = field(default_factory=lambda: {"default": FakeExecutor()})
    jobstores: dict[str, Any] = field(default_factory=lambda: {"default": object()})
    run_hooks: list[Any] = field(default_factory=list)
    next_run_id: int = 1
    context: SchedulerContext = field(init=False)

    def __post_init__(self) -> None:
        logger = logging.getLogger("tests.observability")
        self.context = SchedulerContext(
            name=lambda: self.name,
            clock=lambda: self.clock,
            events=EventBus(logger),
            logger=lambda: logger,
            executors=self.executors,
            jobstores=self.jobstores,
        )

    def add_listener(self, callback: Callable[[SchedulerEvent], None], mask: int) -> None:
        self.context.events.add(callback, mask)

    def remove_listener(self, callback: Callable[[SchedulerEvent], None]) -> None:
        self.context.events.remove(callback)

    def add_run_hook(self, hook: Any) -> None:
        self.run_hooks.append(hook)
        self.context.run_hooks = tuple(self.run_hooks)

    def remove_run_hook(self, hook: Any) -> None:
        self.run_hooks.remove(hook)
        self.context.run_hooks = tuple(self.run_hooks)

    def get_jobs(self) -> list[FakeJob]:
        return list(self.jobs)

    def get_running_runs(self) -> list[RunningRun]:
        return list(self.runs)

    def dispatch(self, event: SchedulerEvent) -> None:
        self.context.dispatch(event)

    # -- helpers that play the scheduler core's part --------------------------------------------

    def add_job(self, job_id: str, name: str, **kwargs: Any) -> FakeJob:
        job = FakeJob(job_id, name, **kwargs)
        self.jobs.append(job)
        self.dispatch(
            JobEvent(EVENT_JOB_ADDED, job.id, "default", job_name=name, executor=job.executor)
        )
        return job

    def remove_job(self, job: FakeJob) -> None:
        self.jobs.remove(job)
        self.dispatch(
            JobEvent(EVENT_JOB_REMOVED, job.id, "default", job_name=job.name, executor=job.executor)
        )

    def run_info(self, job: FakeJob, scheduled: datetime) -> RunInfo:
        run_id = self.next_run_id
        self.next_run_id += 1
        return RunInfo(
            run_id=run_id,
            job_id=job.id,
            job_name=job.name,
            func_name="tests.jobs:tick",
            jobstore="default",
            executor=job.executor,
            trigger=job.trigger,
            scheduled_run_time=scheduled,
            submitted_at=self.clock.now(),
            submitted_monotonic=self.clock.monotonic(),
        )

    def submit(
        self, job: FakeJob, scheduled: datetime, coalesced: tuple[datetime, ...] = ()
    ) -> RunInfo:
        info = self.run_info(job, scheduled)
        self.dispatch(
            JobSubmissionEvent(
                EVENT_JOB_SUBMITTED,
                job.id,
                "default",
                [scheduled],
                job_name=job.name,
                executor=job.executor,
                run_id=info.run_id,
                submitted_at=info.submitted_at,
                coalesced_run_times=coalesced,
            )
        )
        return info

    def finish(
        self,
        info: RunInfo,
        *,
        started_at: datetime | None,
        exception: BaseException | None = None,
    ) -> None:
        finished = self.clock.now()
        self.dispatch(
            JobExecutionEvent(
                EVENT_JOB_ERROR if exception is not None else EVENT_JOB_EXECUTED,
                info.job_id,
                info.jobstore,
                info.scheduled_run_time,
                exception=exception,
                job_name=info.job_name,
                executor=info.executor,
                run_id=info.run_id,
                submitted_at=info.submitted_at,
                started_at=started_at,
                finished_at=finished,
                queue_wait=None
                if started_at is None
                else (started_at - info.submitted_at).total_seconds(),
                run_duration=None
                if started_at is None
                else (finished - started_at).total_seconds(),
            )
        )

    def run(
        self,
        job: FakeJob,
        *,
        late: float = 0.5,
        wait: float = 0.25,
        duration: float = 2.0,
        exception: BaseException | None = None,
    ) -> RunInfo:
        """Submit a run ``late`` s after its scheduled time; start it ``wait`` s later."""
        scheduled = self.clock.now()
        self.clock.advance(late)
        info = self.submit(job, scheduled)
        self.clock.advance(wait)
        started = self.clock.now()
        try:
            for hook in self.run_hooks:
                with hook.wrap(info):
                    self.clock.advance(duration)
                    if exception is not None:
                        raise exception
            if not self.run_hooks:
                self.clock.advance(duration)
        except Exception:
            pass
        self.finish(info, started_at=started, exception=exception)
        return info


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test."""
    return CollectorRegistry()


@pytest.fixture
def scheduler() -> FakeScheduler:
    """A fake running scheduler named ``default``."""
    return FakeScheduler()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """The exporter the ``provider`` fixture's spans end up in."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK provider (always sampling) exporting synchronously to ``exporter``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()
