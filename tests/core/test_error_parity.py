"""Argument errors of the scheduler and its jobs are APScheduler 3.11's: the same exception type
(or a subclass of it) and a message that starts with APScheduler's text.

Each case runs on the installed ``apscheduler`` and on obssched; obssched may append detail.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

LIBRARIES = ("apscheduler", "obssched")


def job_body() -> None:
    """A job function taking no arguments."""


def _scheduler(lib: str, *, started: bool) -> Any:
    module = importlib.import_module(f"{lib}.schedulers.background")
    options: dict[str, Any] = {"timezone": "UTC"}
    if lib == "obssched":
        options.update(metrics=False, tracing=False)
    scheduler = module.BackgroundScheduler(**options)
    if started:
        scheduler.start(paused=True)
    return scheduler


Action = Callable[[Any], Any]


def _add(**options: Any) -> Action:
    return lambda scheduler: scheduler.add_job(job_body, "interval", seconds=5, **options)


def _add_twice(scheduler: Any) -> None:
    scheduler.add_job(job_body, "interval", seconds=5, id="twice")
    scheduler.add_job(job_body, "interval", seconds=5, id="twice")


def _modify(**changes: Any) -> Action:
    def modify(scheduler: Any) -> None:
        scheduler.add_job(job_body, "interval", seconds=5, id="target")
        scheduler.modify_job("target", **changes)

    return modify


CASES: dict[str, tuple[Action, bool]] = {
    "max_instances zero": (_add(max_instances=0), False),
    "max_instances negative": (_add(max_instances=-1), True),
    "max_instances text": (_add(max_instances="x"), False),
    "misfire_grace_time zero": (_add(misfire_grace_time=0), False),
    "misfire_grace_time text": (_add(misfire_grace_time="x"), True),
    "args an integer": (_add(args=1), False),
    "kwargs a list": (_add(kwargs=[1]), False),
    "id not text": (_add(id=5), False),
    "name empty": (_add(name=""), False),
    "name not text": (_add(name=3), False),
    "unknown trigger": (lambda s: s.add_job(job_body, "nope"), False),
    "trigger not a trigger": (lambda s: s.add_job(job_body, 5), False),
    "unresolvable func": (lambda s: s.add_job("no_such_module_xyz:thing", "date"), False),
    "func not callable": (lambda s: s.add_job("sys:path", "date"), False),
    "unknown job store": (_add(jobstore="nope"), True),
    "conflicting id": (_add_twice, True),
    "second executor alias": (lambda s: s.add_executor("threadpool"), True),
    "second job store alias": (lambda s: s.add_jobstore("memory"), True),
    "unknown executor plugin": (lambda s: s.add_executor("nope", "x"), False),
    "unknown job store plugin": (lambda s: s.add_jobstore("nope", "y"), False),
    "executor not an executor": (lambda s: s.add_executor(5, "z"), False),
    "remove unknown executor": (lambda s: s.remove_executor("nope"), True),
    "remove unknown job store": (lambda s: s.remove_jobstore("nope"), True),
    "remove unknown job": (lambda s: s.remove_job("nope"), True),
    "modify unknown job": (lambda s: s.modify_job("nope"), True),
    "modify the id": (_modify(id="other"), True),
    "modify an unknown attribute": (_modify(bogus=1), True),
    "modify max_instances": (_modify(max_instances=0), True),
    "start twice": (lambda s: s.start(), True),
    "shut down a stopped scheduler": (lambda s: s.shutdown(), False),
    "pause a stopped scheduler": (lambda s: s.pause(), False),
    "export before the start": (lambda s: s.export_jobs("never-written.json"), False),
}


def _raised(lib: str, action: Action, started: bool) -> BaseException:
    scheduler = _scheduler(lib, started=started)
    try:
        action(scheduler)
    except Exception as exc:
        return exc
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
    pytest.fail(f"{lib} raised nothing")


def _text(exc: BaseException) -> str:
    # KeyError's str() quotes its argument; the argument itself is the message.
    return str(exc.args[0]) if exc.args else ""


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_an_argument_error_is_apschedulers(case: str) -> None:
    """obssched raises APScheduler's exception type with a message starting with its text."""
    action, started = CASES[case]
    theirs, ours = (_raised(lib, action, started) for lib in LIBRARIES)
    expected_type = _builtin_base(type(theirs))
    assert isinstance(ours, expected_type), f"{type(ours).__name__} is no {expected_type.__name__}"
    assert _text(ours).startswith(_text(theirs)), (_text(theirs), _text(ours))


def _builtin_base(cls: type[BaseException]) -> type[BaseException]:
    """The builtin exception class APScheduler's error is (its own classes map to obssched's)."""
    if cls.__module__ == "builtins":
        return cls
    ours = importlib.import_module("obssched.exceptions")
    same = getattr(ours, cls.__name__, None)
    if isinstance(same, type) and issubclass(same, BaseException):
        return same
    return next(base for base in cls.__mro__ if base.__module__ == "builtins")


@pytest.mark.parametrize("kind", ["executors", "jobstores"])
def test_a_component_of_the_wrong_type_in_the_configuration_is_apschedulers_error(
    kind: str,
) -> None:
    """A configured executor or job store that is neither an instance nor a dict gives
    APScheduler's TypeError and text."""

    def raised(lib: str) -> BaseException:
        module = importlib.import_module(f"{lib}.schedulers.background")
        with pytest.raises(TypeError) as caught:
            module.BackgroundScheduler(**{kind: {"default": 6}})
        return caught.value

    theirs, ours = (raised(lib) for lib in LIBRARIES)
    assert _text(ours).startswith(_text(theirs))
