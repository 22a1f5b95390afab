"""Traces of each run printed to the console (the application configures the SDK, not obssched).

``python examples/tracing_console.py`` runs for about 3.5 seconds; ``... tracing_console.py 2``
for two. Each run prints its ``run work`` span, with the job's own ``query the database`` span
under it.
"""

from __future__ import annotations

import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from obssched.schedulers.background import BackgroundScheduler


def work() -> None:
    """A job whose own span nests under the run's span."""
    with trace.get_tracer("example").start_as_current_span("query the database"):
        time.sleep(0.05)


def main(run_for: float = 3.5) -> None:
    """Run one job every second for ``run_for`` seconds, printing its spans."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)  # the application's choice; obssched never does this
    scheduler = BackgroundScheduler(metrics=False)
    scheduler.add_job(work, "interval", seconds=1, name="work")
    scheduler.start()
    time.sleep(run_for)
    scheduler.shutdown()
    provider.shutdown()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.5)
