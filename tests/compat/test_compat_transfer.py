"""Differential tests: exporting, importing and restoring jobs on APScheduler 3.11 and on
obssched, the same scenario on both, compared."""

from __future__ import annotations

import importlib
import io
import json
from typing import Any

import pytest

LIBRARIES = ("apscheduler", "obssched")


def _started_scheduler(lib: str) -> Any:
    module = importlib.import_module(f"{lib}.schedulers.background")
    options: dict[str, Any] = {"timezone": "UTC"}
    if lib == "obssched":
        options.update(metrics=False, tracing=False)
    scheduler = module.BackgroundScheduler(**options)
    scheduler.start(paused=True)
    return scheduler


def _export(lib: str, args: Any) -> str:
    scheduler = _started_scheduler(lib)
    try:
        scheduler.add_job(print, "interval", seconds=30, id="j", args=args, kwargs={"end": ""})
        buffer = io.StringIO()
        scheduler.export_jobs(buffer)
        return buffer.getvalue()
    finally:
        scheduler.shutdown(wait=False)


def test_version_attributes_match_apschedulers_names() -> None:
    """Both packages expose ``version`` (the release text, equal to ``__version__``) and
    ``version_info`` (its parts, numbers as ints)."""
    for lib in LIBRARIES:
        module = importlib.import_module(lib)
        assert isinstance(module.version, str)
        assert module.version == module.__version__
        assert module.version_info == tuple(
            int(part) if part.isdigit() else part for part in module.version.split(".")
        )


def test_export_writes_apschedulers_envelope() -> None:
    """An export is a JSON object with the same keys on both: ``version`` 1, the exporting
    package's own ``scheduler_version``, and the ``jobs``."""
    envelopes = {}
    for lib in LIBRARIES:
        data = json.loads(_export(lib, ("foo",)))
        assert data["scheduler_version"] == importlib.import_module(lib).version
        assert len(data["jobs"]) == 1
        envelopes[lib] = (sorted(data), data["version"])
    assert envelopes["obssched"] == envelopes["apscheduler"]


@pytest.mark.parametrize("args", [("foo", "bar"), ["foo", "bar"]], ids=["tuple", "list"])
def test_importing_an_own_export_gives_list_args(args: Any) -> None:
    """A job imported from the package's own export has its arguments as the list JSON holds,
    whether they were given as a tuple or a list."""
    imported = {}
    for lib in LIBRARIES:
        text = _export(lib, args)
        scheduler = _started_scheduler(lib)
        try:
            scheduler.import_jobs(io.StringIO(text))
            job = scheduler.get_job("j")
            imported[lib] = (type(job.args), job.args, job.kwargs)
        finally:
            scheduler.shutdown(wait=False)
    assert imported["obssched"] == imported["apscheduler"] == (list, ["foo", "bar"], {"end": ""})


@pytest.mark.parametrize("args", [[], ["a", 1], ("a", 1)], ids=["empty-list", "list", "tuple"])
def test_setstate_keeps_args_as_given(args: Any) -> None:
    """Job.__setstate__ keeps the state's args as they are, a list staying a list."""
    restored = {}
    for lib in LIBRARIES:
        job_cls = importlib.import_module(f"{lib}.job").Job
        trigger_cls = importlib.import_module(f"{lib}.triggers.date").DateTrigger
        job = job_cls.__new__(job_cls)
        job.__setstate__(
            {
                "version": 1,
                "id": "restored",
                "func": "builtins:print",
                "trigger": trigger_cls("2030-01-01 00:00:00", "UTC"),
                "executor": "default",
                "args": args,
                "kwargs": {},
                "name": "restored",
                "misfire_grace_time": 1,
                "coalesce": True,
                "max_instances": 1,
                "next_run_time": None,
            }
        )
        restored[lib] = (type(job.args), job.args)
    assert restored["obssched"] == restored["apscheduler"] == (type(args), args)
