"""The counters of jobs already stored when a scheduler starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.jobstores._sql import rows as rows_module
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler


def test_a_start_with_metrics_on_decodes_no_stored_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler starting with the built-in metrics on a SQL store gives each stored job its
    counters at 0 without decoding any job row."""
    clock = ManualClock("2024-01-01T00:00:00+00:00")
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    first = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    first.add_jobstore(SQLAlchemyJobStore(url=url))
    first.start()
    for index in range(5):
        first.add_job("builtins:print", "interval", hours=1, name=f"job-{index}")
    first.shutdown()
    decoded: list[Any] = []
    real = rows_module.decode_job
    monkeypatch.setattr(rows_module, "decode_job", lambda *a: decoded.append(a) or real(*a))
    registry = CollectorRegistry()
    second = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False, timezone="UTC")
    second.add_jobstore(SQLAlchemyJobStore(url=url))
    second.start()
    decoded_at_start = len(decoded)
    counted = [
        registry.get_sample_value(
            "obssched_job_executed_total",
            {"scheduler": "default", "job_name": f"job-{index}", "executor": "default"},
        )
        for index in range(5)
    ]
    second.shutdown()
    assert decoded_at_start == 0
    assert counted == [0.0] * 5
