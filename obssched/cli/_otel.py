"""Configuring the OpenTelemetry SDK from the standard ``OTEL_*`` variables (the CLI only: the
library never configures the SDK).

OTLP over HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
set (or ``OTEL_TRACES_EXPORTER=otlp``), the console with ``--trace-console`` (or
``OTEL_TRACES_EXPORTER=console``), nothing otherwise: then no SDK is imported at all.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from obssched.cli._errors import CliError, ExitCode

__all__ = ["TracingSetup", "setup_tracing"]

_logger = logging.getLogger("obssched.cli")

_DEFAULT_SERVICE_NAME = "obssched"


class TracingSetup:
    """The configured tracer provider (``None``: the API's no-op one) and how to flush it."""

    def __init__(self, provider: Any, exporters: list[str]) -> None:
        self.provider = provider
        self.exporters = exporters

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is buffered and stop the exporters, giving up after ``timeout`` s.

        An unreachable collector makes the OTLP exporter retry with backoff for longer than
        anyone waiting for Ctrl-C to work would accept.
        """
        provider = self.provider
        if provider is None:
            return

        def flush() -> None:
            try:
                provider.shutdown()
            except Exception:
                _logger.exception("Flushing the trace exporters failed")

        thread = threading.Thread(target=flush, name="obssched-trace-flush", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            _logger.warning(
                "Gave up exporting the last spans after %s s (is the collector reachable?)", timeout
            )


def _wanted_exporters(environ: Mapping[str, str], console: bool) -> list[str]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    wanted: list[str] = []
    if named:
        if "none" in named:
            named = []
        for name in named:
            if name not in ("otlp", "console"):
                raise CliError(
                    f"environment variable OTEL_TRACES_EXPORTER: unsupported exporter {name!r}; "
                    "obssched supports 'otlp' (over HTTP), 'console' and 'none'",
                    ExitCode.USAGE,
                )
            wanted.append(name)
    elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        wanted.append("otlp")
    if console and "console" not in wanted:
        wanted.append("console")
    return wanted


def setup_tracing(console: bool, environ: Mapping[str, str] | None = None) -> TracingSetup:
    """Configure and install the global tracer provider, when an exporter is wanted.

    Raises:
        CliError: an exporter is wanted but its package is not installed, or
            ``OTEL_TRACES_EXPORTER`` names an unsupported one (``USAGE``).
    """
    env = os.environ if environ is None else environ
    wanted = _wanted_exporters(env, console)
    if not wanted:
        return TracingSetup(None, [])
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise CliError(
            f"tracing to {' and '.join(wanted)} needs the OpenTelemetry SDK, which is not "
            f"installed ({exc}); install it with 'pip install obssched[otel]', or unset the "
            "OTEL_* variables and --trace-console",
            ExitCode.USAGE,
        ) from exc

    attributes: dict[str, Any] = {}
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = _DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create(attributes))
    described: list[str] = []
    for name in wanted:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
            described.append("console (stdout)")
            continue
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        if protocol != "http/protobuf":
            raise CliError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: obssched exports "
                "OTLP over HTTP only; set it to 'http/protobuf' (collectors listen on port 4318)",
                ExitCode.USAGE,
            )
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise CliError(
                "an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT), but the OTLP exporter is "
                f"not installed ({exc}); install it with 'pip install obssched[otel]' "
                "(opentelemetry-exporter-otlp-proto-http), or unset the variable",
                ExitCode.USAGE,
            ) from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"
        )
        described.append(f"OTLP/HTTP ({endpoint})")
    # Global too, so that spans the jobs create themselves are exported under the run's span.
    trace.set_tracer_provider(provider)
    return TracingSetup(provider, described)
