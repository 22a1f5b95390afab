"""Plugins registered by installed distributions resolve by alias, in obssched's entry-point
groups and in APScheduler 3's.

Each test installs a real (tiny) distribution into a temporary directory on ``sys.path``: a
module with the plugin classes and a ``.dist-info`` whose ``entry_points.txt`` names them.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from obssched.exceptions import UnknownAliasError
from obssched.testing import ManualScheduler

PLUGIN_MODULE = """
from datetime import timedelta

from obssched.executors.debug import DebugExecutor
from obssched.jobstores.memory import MemoryJobStore
from obssched.triggers.interval import IntervalTrigger


class EveryMinute(IntervalTrigger):
    def __init__(self, timezone=None):
        super().__init__(minutes=1, timezone=timezone)


class PluginExecutor(DebugExecutor):
    pass


class PluginStore(MemoryJobStore):
    pass
"""

GROUP_SUFFIXES = {"trigger": "triggers", "executor": "executors", "jobstore": "jobstores"}


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_prefix: str) -> str:
    """Install a distribution whose entry points register three plugins; return the alias
    suffix that makes its aliases unique to this test."""
    suffix = uuid.uuid4().hex[:8]
    module = f"obssched_test_plugin_{suffix}"
    (tmp_path / f"{module}.py").write_text(PLUGIN_MODULE)
    dist_info = tmp_path / f"{module}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{group_prefix}.triggers]
            every_minute_{suffix} = {module}:EveryMinute

            [{group_prefix}.executors]
            plugin_{suffix} = {module}:PluginExecutor

            [{group_prefix}.jobstores]
            plugin_{suffix} = {module}:PluginStore
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return suffix


def job_body() -> None:
    """A job function."""


@pytest.mark.parametrize("group_prefix", ["obssched", "apscheduler"])
def test_a_trigger_plugin_resolves_by_its_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_prefix: str
) -> None:
    """add_job(func, "<alias>") creates the trigger a distribution registers under that alias."""
    suffix = _install(tmp_path, monkeypatch, group_prefix)
    scheduler = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    job = scheduler.add_job(job_body, f"every_minute_{suffix}")
    assert type(job.trigger).__name__ == "EveryMinute"


@pytest.mark.parametrize("group_prefix", ["obssched", "apscheduler"])
def test_executor_and_job_store_plugins_resolve_by_their_aliases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_prefix: str
) -> None:
    """add_executor("<alias>") and add_jobstore("<alias>") create the registered classes."""
    suffix = _install(tmp_path, monkeypatch, group_prefix)
    scheduler = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    scheduler.add_executor(f"plugin_{suffix}", "extra")
    scheduler.add_jobstore(f"plugin_{suffix}", "extra")
    assert (
        type(scheduler.context.executors["extra"]).__name__,
        type(scheduler.context.jobstores["extra"]).__name__,
    ) == ("PluginExecutor", "PluginStore")


def test_a_built_in_alias_is_obsscheds_own_class_even_with_apscheduler_installed() -> None:
    """APScheduler's own entry points (it is installed here) never replace the built-ins."""
    from obssched.triggers.cron import CronTrigger

    scheduler = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    job = scheduler.add_job(job_body, "cron", minute=5)
    assert type(job.trigger) is CronTrigger


def test_an_alias_no_distribution_registers_is_unknown() -> None:
    """An alias found neither built in nor in any entry-point group raises UnknownAliasError."""
    scheduler = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    with pytest.raises(UnknownAliasError):
        scheduler.add_job(job_body, f"no_such_trigger_{uuid.uuid4().hex}")
