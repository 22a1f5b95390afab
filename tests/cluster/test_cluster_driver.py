"""Cluster mode refuses a PostgreSQL driver its statements do not run on, naming it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from obssched.exceptions import InvalidArgumentError
from obssched.jobstores._sql.engine import open_engine


def engine_of(driver: str) -> object:
    """A stand-in engine of PostgreSQL through ``driver``."""
    return SimpleNamespace(dialect=SimpleNamespace(name="postgresql", driver=driver))


@pytest.mark.parametrize("driver", ["psycopg2", "pg8000", "asyncpg"])
def test_cluster_mode_rejects_a_driver_other_than_psycopg(driver: str) -> None:
    """The error names the driver and the argument that gave it."""
    with pytest.raises(InvalidArgumentError, match=f"not {driver}") as caught:
        open_engine(None, engine_of(driver), None, cluster=True)  # type: ignore[arg-type]
    assert (caught.value.argument, caught.value.value) == ("engine", driver)


def test_cluster_mode_accepts_psycopg_and_other_modes_any_driver() -> None:
    """psycopg (3) serves a cluster; a single-node store takes any PostgreSQL driver."""
    psycopg = engine_of("psycopg")
    assert open_engine(None, psycopg, None, cluster=True) == (psycopg, False)  # type: ignore[arg-type]
    other = engine_of("psycopg2")
    assert open_engine(None, other, None, cluster=False) == (other, False)  # type: ignore[arg-type]
