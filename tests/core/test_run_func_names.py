"""Each run names its callable, also a callable without a reference, and a changed one."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import partial

import core_jobs

from obssched._refs import get_callable_name
from obssched._runs import RemoteWrapper, RunInfo
from obssched.testing import ManualClock, ManualScheduler


class NameHook:
    """A run hook that notes the ``func_name`` of every run it wraps."""

    def __init__(self) -> None:
        self.names: list[tuple[str, str]] = []

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        self.names.append((run.job_id, run.func_name))
        return None

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        return None


def test_runs_name_callables_without_a_reference(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Partials and lambdas are named as get_callable_name names them, run after run."""
    hook = NameHook()
    scheduler.add_run_hook(hook)
    scheduler.start()
    first = partial(core_jobs.record, 1)
    second = lambda: None  # noqa: E731 (a lambda on purpose: it has no reference)
    scheduler.add_job(first, "interval", seconds=1, id="partial")
    scheduler.add_job(second, "interval", seconds=1, id="lambda")
    for _ in range(2):
        clock.advance(1)
        scheduler.tick()
    expected = {"partial": get_callable_name(first), "lambda": get_callable_name(second)}
    assert sorted(hook.names) == sorted(list(expected.items()) * 2)


def test_a_changed_callable_is_named_anew(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """After modify_job(func=...), runs carry the new callable's name."""
    hook = NameHook()
    scheduler.add_run_hook(hook)
    scheduler.start()
    scheduler.add_job(partial(core_jobs.record, 1), "interval", seconds=1, id="job")
    clock.advance(1)
    scheduler.tick()
    replacement = lambda: None  # noqa: E731 (a lambda on purpose: it has no reference)
    scheduler.modify_job("job", func=replacement)
    clock.advance(1)
    scheduler.tick()
    assert hook.names == [("job", "partial"), ("job", get_callable_name(replacement))]
