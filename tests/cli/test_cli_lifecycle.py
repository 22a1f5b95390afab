"""What ``obssched run`` subscribes on the scheduler's bus lives as long as the scheduler runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._runner import Running, RunPlan, run_scheduler
from obssched.cli._settings import RunSettings

pytestmark = [pytest.mark.realtime]


def _run_ledgers(callbacks: tuple[Any, ...]) -> int:
    """Count the SQL store's run-ledger listeners among ``callbacks``."""
    return sum(type(getattr(cb, "__self__", None)).__name__ == "RunLedger" for cb in callbacks)


def test_run_subscribes_one_run_ledger_and_leaves_none_after_shutdown(tmp_path: Path) -> None:
    """The SQLite store is started once, by the scheduler, and unsubscribes at shutdown."""
    settings = RunSettings(
        metrics=False,
        tracing=False,
        jobstores={"default": f"sqlite:///{tmp_path / 'jobs.sqlite'}"},
        duration=0.01,
        log_level="WARNING",
    )
    seen: dict[str, Any] = {}

    def on_started(running: Running) -> None:
        seen["scheduler"] = running.scheduler
        seen["ledgers while running"] = _run_ledgers(running.scheduler.context.events.callbacks)

    assert run_scheduler(RunPlan(settings, [], source="test", on_started=on_started)) == 0
    after = _run_ledgers(seen["scheduler"].context.events.callbacks)
    assert (seen["ledgers while running"], after) == (1, 0)


def test_run_reports_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    """A store whose start fails stops the run with the store's own exit code."""
    garbage = tmp_path / "jobs.sqlite"
    garbage.write_bytes(b"this is not a SQLite database, and it is long enough to say so" * 20)
    settings = RunSettings(
        metrics=False,
        tracing=False,
        jobstores={"default": f"sqlite:///{garbage}"},
        duration=0.01,
    )
    with pytest.raises(CliError) as raised:
        run_scheduler(RunPlan(settings, [], source="test"))
    assert raised.value.code == ExitCode.STORE_UNAVAILABLE
