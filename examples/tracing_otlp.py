"""Traces sent over OTLP/HTTP to the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT.

OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/tracing_otlp.py
"""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from obssched.schedulers.background import BackgroundScheduler


def work() -> None:
    """The job."""
    time.sleep(0.02)


def main() -> None:
    """Trace a job's runs to the OTLP endpoint (the exporter reads the environment variable)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "obssched-example"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    scheduler = BackgroundScheduler(tracer_provider=provider, metrics=False)
    scheduler.add_job(work, "interval", seconds=1, name="work")
    scheduler.start()
    time.sleep(5)
    scheduler.shutdown()
    provider.shutdown()


if __name__ == "__main__":
    main()
