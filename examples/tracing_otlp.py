"""Traces sent over OTLP to the collector the standard OTEL_* variables name.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/tracing_otlp.py

The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the other OTEL_EXPORTER_OTLP_* variables)
itself. This is OTLP over HTTP, which obssched installs; for gRPC, install ``obssched[grpc]`` and
import ``OTLPSpanExporter`` from ``opentelemetry.exporter.otlp.proto.grpc.trace_exporter``
instead (port 4317). ``python examples/tracing_otlp.py 3`` stops after three seconds.
"""

from __future__ import annotations

import sys
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from obssched.schedulers.background import BackgroundScheduler


def work() -> None:
    """The job."""
    time.sleep(0.02)


def main(run_for: float = 5.0) -> None:
    """Trace a job's runs to the OTLP endpoint for ``run_for`` seconds."""
    # The application owns the provider and hands it to the scheduler; nothing is set globally.
    provider = TracerProvider(resource=Resource.create({"service.name": "obssched-example"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    scheduler = BackgroundScheduler(tracer_provider=provider, metrics=False)
    scheduler.add_job(work, "interval", seconds=1, name="work")
    scheduler.start()
    time.sleep(run_for)
    scheduler.shutdown()
    provider.shutdown()  # exports what is still buffered


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
