"""Fixtures of the fault suite (its harness is in ``faultharness.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import fault_jobs
import pytest
from faultharness import Scraper
from prometheus_client import CollectorRegistry


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Iterator[Scraper]:
    """``/metrics`` of ``registry`` on a free port, scraped from a thread until the test asks
    whether every scrape answered."""
    scraper = Scraper(registry)
    scraper.start()
    yield scraper
    scraper.close()


@pytest.fixture(autouse=True)
def release_blocked_jobs() -> Iterator[None]:
    fault_jobs.release.clear()
    yield
    fault_jobs.release.set()
