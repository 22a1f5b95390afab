"""Job functions for examples/jobs.toml: what a small service's scheduled work looks like.

`obssched run examples/jobs.toml` puts this directory on the import path (the jobs file's
[scheduler] path), so the jobs file names these functions as `jobs:function_name`. The bodies
only pretend to work (sleep and log): replace them with your own.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time

logger = logging.getLogger("jobs")


def refresh_exchange_rates(base: str, currencies: list[str]) -> dict[str, float]:
    """Fetch the latest rates (here: made up) and return them."""
    time.sleep(random.uniform(0.1, 0.5))
    rates = {currency: round(random.uniform(0.5, 1.5), 4) for currency in currencies}
    logger.info("Rates against %s: %s", base, rates)
    return rates


def clean_temporary_files(directory: str, older_than_hours: int = 24) -> int:
    """Delete old scratch files (here: pretend to) and return how many went."""
    time.sleep(0.2)
    removed = random.randint(0, 20)
    logger.info("Removed %d files older than %dh from %s", removed, older_than_hours, directory)
    return removed


def back_up_database(target: str) -> str:
    """Take the nightly backup; a slow job that must not overlap itself."""
    time.sleep(random.uniform(2, 4))
    logger.info("Backup written to %s", target)
    return target


def send_weekly_digest(recipients: list[str]) -> None:
    """Mail the weekly summary."""
    time.sleep(0.3)
    logger.info("Weekly digest sent to %d recipients", len(recipients))


def rebuild_search_index(shards: int) -> str:
    """CPU-bound work, run in the process pool."""
    digest = hashlib.sha256()
    for shard in range(shards):
        for _ in range(20_000):
            digest.update(str(shard).encode())
    return digest.hexdigest()[:12]
