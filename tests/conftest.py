"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "OBSSCHED_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OBSSCHED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_services() -> bool:
    """Whether tests must fail instead of skipping when a service or tool is missing (CI)."""
    return os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the calling test, or fail it where services are required."""
    if require_services():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL; skips (fails under CI) when no PostgreSQL answers."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        skip_or_fail(f"PostgreSQL at {POSTGRES_URL} does not answer: {exc.orig}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis server's URL; skips (fails under CI) when no Redis answers."""
    try:
        import redis
    except ImportError:
        skip_or_fail("the redis package is not installed")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} does not answer: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh database schema for one test, dropped afterwards."""
    name = f"obssched_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()
