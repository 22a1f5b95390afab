"""Differential tests: a scheduler's executor and job store lookups on APScheduler 3.11 and on
obssched, the same scenario on both, compared."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from compat_outcomes import assert_same_outcome, outcome

LOOKUPS = ("_lookup_executor", "_lookup_jobstore")


def _scheduler(lib: str) -> Any:
    module = importlib.import_module(f"{lib}.schedulers.background")
    options: dict[str, Any] = {"timezone": "UTC"}
    if lib == "obssched":
        options.update(metrics=False, tracing=False)
    return module.BackgroundScheduler(**options)


def _components(lookup: str) -> str:
    return "_executors" if lookup == "_lookup_executor" else "_jobstores"


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_an_unknown_alias_raises_apschedulers_key_error(lookup: str) -> None:
    """Looking up an alias the scheduler lacks raises a KeyError whose message (its first
    argument: KeyError's own str() quotes it, obssched's does not) starts with APScheduler's
    "No such ...: <alias>"."""
    ours, theirs = (
        outcome(lambda lib=lib: getattr(_scheduler(lib), lookup)("nonesuch"))
        for lib in ("obssched", "apscheduler")
    )
    assert isinstance(theirs.error, KeyError)
    assert isinstance(ours.error, KeyError)
    assert ours.error.args[0].startswith(theirs.error.args[0])


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_a_lookup_reads_the_components_dict_the_scheduler_holds(lookup: str) -> None:
    """A lookup returns what the scheduler's ``_executors``/``_jobstores`` dict holds, also
    after code written against APScheduler 3 replaced that dict."""
    found = {}
    for lib in ("obssched", "apscheduler"):
        scheduler = _scheduler(lib)
        component = object()
        setattr(scheduler, _components(lookup), {"mine": component})
        found[lib] = outcome(lambda s=scheduler, c=component: getattr(s, lookup)("mine") is c)
    assert_same_outcome(found["obssched"], found["apscheduler"])
    assert found["obssched"].value is True
