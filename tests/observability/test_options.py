"""Attaching through one set of options, and where a registry's collector lives."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.observability import OTHER_JOB_NAME, attach_builtin

from .conftest import FakeScheduler


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


@pytest.mark.parametrize(
    "names",
    [
        {"registry": "registry", "limit": "job_name_limit", "buckets": "buckets"},
        {
            "registry": "metrics_registry",
            "limit": "metrics_job_name_limit",
            "buckets": "metrics_buckets",
        },
    ],
    ids=["plain", "scheduler-option-names"],
)
def test_option_names_mean_the_same(
    scheduler: FakeScheduler, registry: CollectorRegistry, names: dict[str, str]
) -> None:
    """attach_builtin reads the registry, name limit and buckets under either spelling."""
    options: dict[str, Any] = {
        names["registry"]: registry,
        names["limit"]: 1,
        names["buckets"]: (1.0, 7.0),
    }
    attach_builtin(scheduler, tracing=False, **options)
    scheduler.add_job("id-1", "first")
    scheduler.run(scheduler.add_job("id-2", "second"), duration=3.0)
    labels = {"job_name": OTHER_JOB_NAME, "executor": "default", "outcome": "success"}
    assert value(registry, "obssched_job_run_duration_seconds_bucket", **labels, le="7.0") == 1.0


def test_a_dropped_registry_is_collected(scheduler: FakeScheduler) -> None:
    """A registry's collector lives with the registry: nothing else keeps it once dropped."""
    registry = CollectorRegistry()
    attach_builtin(scheduler, registry=registry, tracing=False).detach()
    gone = weakref.ref(registry)
    del registry
    gc.collect()
    assert gone() is None


def test_each_registry_counts_apart() -> None:
    """Two registries each get their own collector and series."""
    first, second = CollectorRegistry(), CollectorRegistry()
    attach_builtin(one := FakeScheduler(), registry=first, tracing=False)
    attach_builtin(FakeScheduler(), registry=second, tracing=False)
    one.run(one.add_job("id-1", "report"))
    labels = {"job_name": "report", "executor": "default"}
    assert value(first, "obssched_job_executed_total", **labels) == 1.0
    assert value(second, "obssched_job_executed_total", **labels) is None
