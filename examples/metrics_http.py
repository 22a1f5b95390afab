"""Metrics on http://127.0.0.1:9464/metrics (and /healthz) with no extra code in the jobs."""

from __future__ import annotations

import random
import time

import obssched.observability as observability
from obssched.schedulers.background import BackgroundScheduler


def report() -> None:
    """A job that takes a little while and sometimes fails."""
    time.sleep(random.uniform(0.01, 0.2))
    if random.random() < 0.1:
        raise RuntimeError("report failed")


def main() -> None:
    """Run a scheduler and serve its metrics until interrupted."""
    scheduler = BackgroundScheduler()
    scheduler.add_job(report, "interval", seconds=2, name="report")
    scheduler.start()
    server = observability.start_http_server(9464)
    print(f"scrape {server.url}/metrics ; health at {server.url}/healthz ; Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        scheduler.shutdown()


if __name__ == "__main__":
    main()
