"""Differential tests: how the SQLAlchemy job store builds its engine, on APScheduler 3.11 and on
obssched."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import sqlalchemy

LIBRARIES = ("apscheduler", "obssched")


@pytest.mark.parametrize("lib", LIBRARIES)
def test_the_store_module_exposes_sqlalchemys_create_engine(lib: str) -> None:
    """``<lib>.jobstores.sqlalchemy.create_engine`` is SQLAlchemy's own."""
    module = importlib.import_module(f"{lib}.jobstores.sqlalchemy")
    assert module.create_engine is sqlalchemy.create_engine


@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_store_given_a_url_builds_its_engine_with_the_modules_create_engine(
    lib: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store given a URL builds its engine by calling the store module's ``create_engine``,
    so replacing it there (as APScheduler users' tests do) is seen."""
    module = importlib.import_module(f"{lib}.jobstores.sqlalchemy")
    urls: list[Any] = []

    def recording_create_engine(url: Any, **options: Any) -> sqlalchemy.Engine:
        urls.append(url)
        return sqlalchemy.create_engine(url, **options)

    monkeypatch.setattr(module, "create_engine", recording_create_engine)
    store = module.SQLAlchemyJobStore(url="sqlite:///")
    try:
        assert urls == ["sqlite:///"]
        assert store.engine.dialect.name == "sqlite"
    finally:
        store.engine.dispose()
