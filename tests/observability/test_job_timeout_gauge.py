"""obssched_job_timeout_seconds: each job's timeout, read at scrape time for the long-run alert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from obssched.observability import attach_builtin
from obssched.testing import ManualClock, ManualScheduler

from . import jobs
from .conftest import FakeScheduler

GAUGE = "obssched_job_timeout_seconds"


def timeout_of(registry: CollectorRegistry, job_name: str) -> float | None:
    return registry.get_sample_value(GAUGE, {"scheduler": "default", "job_name": job_name})


@pytest.fixture
def attached(scheduler: FakeScheduler, registry: CollectorRegistry) -> FakeScheduler:
    """The fake scheduler with metrics attached to the test's registry."""
    attach_builtin(scheduler, registry=registry, tracing=False)
    return scheduler


@pytest.fixture
def manual(registry: CollectorRegistry) -> Iterator[ManualScheduler]:
    """A started manual scheduler reporting to the test's registry."""
    scheduler = ManualScheduler(clock=ManualClock(), metrics_registry=registry, tracing=False)
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def test_a_job_with_a_timeout_exports_it(
    manual: ManualScheduler, registry: CollectorRegistry
) -> None:
    """A job added with timeout=90 shows 90 seconds under its name."""
    manual.add_job(jobs.fail, "interval", minutes=5, name="etl", timeout=90)
    assert timeout_of(registry, "etl") == 90.0


def test_a_job_without_a_timeout_has_no_series(
    manual: ManualScheduler, registry: CollectorRegistry
) -> None:
    """A job without a timeout has no timeout series, so the alert falls back to its threshold."""
    manual.add_job(jobs.fail, "interval", minutes=5, name="report")
    assert timeout_of(registry, "report") is None


def test_a_modified_timeout_shows_at_the_next_scrape(
    manual: ManualScheduler, registry: CollectorRegistry
) -> None:
    """modify_job(timeout=...) changes the exported value; timeout=None removes the series."""
    manual.add_job(jobs.fail, "interval", minutes=5, name="etl", id="etl", timeout=90)
    manual.modify_job("etl", timeout=30)
    assert timeout_of(registry, "etl") == 30.0
    manual.modify_job("etl", timeout=None)
    assert timeout_of(registry, "etl") is None


def test_jobs_sharing_a_name_export_the_largest_timeout(
    attached: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Of jobs sharing a name, the largest timeout is exported: a run over it is over its own."""
    for job_id, timeout in [("a", 30.0), ("b", 120.0), ("c", None)]:
        attached.add_job(job_id, "sync").timeout = timeout
    assert timeout_of(registry, "sync") == 120.0


def test_a_job_object_without_a_timeout_attribute_is_skipped(
    attached: FakeScheduler, registry: CollectorRegistry
) -> None:
    """A job of a stock APScheduler 3 scheduler, which has no timeout, exports no series."""
    attached.add_job("a", "legacy")
    assert timeout_of(registry, "legacy") is None
