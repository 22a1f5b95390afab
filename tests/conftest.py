"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest


def require_services() -> bool:
    """Whether tests must fail instead of skipping when a service or tool is missing (CI)."""
    return os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the calling test, or fail it where services are required."""
    if require_services():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
