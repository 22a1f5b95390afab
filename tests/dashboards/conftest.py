"""Fixtures for the dashboard and rule tests: the Prometheus binaries, skipped when absent."""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """A Prometheus binary's path; skip without it, or fail when CI requires services."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package 'prometheus')"
        if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}, and OBSSCHED_REQUIRE_SERVICES=1")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary."""
    return require_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The Prometheus server binary."""
    return require_binary("prometheus")
