"""Traces of each run printed to the console (the application configures the SDK, not obssched)."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from obssched.schedulers.background import BackgroundScheduler


def work() -> None:
    """A job whose own span nests under the run's body span."""
    with trace.get_tracer("example").start_as_current_span("query the database"):
        time.sleep(0.05)


def main() -> None:
    """Run one job a few times, printing its spans."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)  # the application's choice; obssched never does this
    scheduler = BackgroundScheduler(metrics=False)
    scheduler.add_job(work, "interval", seconds=1, name="work")
    scheduler.start()
    time.sleep(3.5)
    scheduler.shutdown()
    provider.shutdown()


if __name__ == "__main__":
    main()
