"""Configuring the OpenTelemetry SDK for the ``obssched`` command (the library never does).

The command records spans whenever tracing is on, so that ``/metrics`` carries exemplars with
trace ids; where the spans go follows the standard ``OTEL_*`` variables, read by the SDK's own
pieces:

- ``OTEL_TRACES_EXPORTER`` names exporters as the SDK's ``opentelemetry_traces_exporter`` entry
  points do: ``otlp``, ``console``, ``none``, or any installed one (``otlp_proto_grpc``...).
  Unset, OTLP is chosen when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, and no exporter otherwise: the specification's
  default (``otlp`` to localhost) would log a failed export every few seconds on every machine
  without a collector. ``--trace-console`` adds the console exporter.
- ``otlp`` is OTLP/HTTP unless ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or
  ``OTEL_EXPORTER_OTLP_PROTOCOL`` says ``grpc`` (the ``obssched[grpc]`` extra). The exporters read
  their endpoint, headers, timeout, compression and certificates themselves.
- ``Resource.create`` reads ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (the service
  is ``obssched`` when neither names one), the provider ``OTEL_TRACES_SAMPLER`` and the batch
  processor ``OTEL_BSP_*``.
- ``OTEL_SDK_DISABLED=true`` records nothing.

An SDK provider the process already has globally (one ``opentelemetry-instrument`` set up, say)
is used as it is: the application's configuration wins.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from obssched.cli._errors import CliError, ExitCode

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import TracerProvider

__all__ = [
    "EXPORTER_GROUP",
    "TracingSetup",
    "build_provider",
    "exporter_names",
    "find_exporter",
    "setup_tracing",
]

_logger = logging.getLogger("obssched.cli")

EXPORTER_GROUP = "opentelemetry_traces_exporter"
"""The entry point group ``OTEL_TRACES_EXPORTER`` names are looked up in (the SDK's own)."""

_DEFAULT_SERVICE_NAME = "obssched"

_MISSING_PACKAGE = ExitCode.USAGE
"""The exit code ``obssched --help`` documents for a missing optional package."""

# OTLP's protocols, as OTEL_EXPORTER_OTLP_PROTOCOL spells them, and the exporter of each.
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
_EXTRA_OF = {
    "otlp_proto_http": ("obssched", "opentelemetry-exporter-otlp-proto-http"),
    "otlp_proto_grpc": ("obssched[grpc]", "opentelemetry-exporter-otlp-proto-grpc"),
}


class TracingSetup:
    """The tracer provider the command traces with (``None``: the API's no-op one), what it
    exports to, and how to flush it."""

    def __init__(
        self, provider: TracerProvider | None, exporters: list[str], owned: bool = True
    ) -> None:
        self.provider = provider
        self.exporters = exporters
        """What the spans are exported to, for the log (empty: recorded, not exported)."""
        self.owned = owned
        """Whether the command made the provider (and so shuts it down), or found it."""

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is buffered (and stop the exporters of a provider the command made),
        giving up after ``timeout`` s.

        An unreachable collector makes the OTLP exporters retry with backoff for longer than
        anyone waiting for Ctrl-C to work would accept.
        """
        provider = self.provider
        if provider is None:
            return
        finish = getattr(provider, "shutdown" if self.owned else "force_flush", None)
        if finish is None:
            return

        def flush() -> None:
            try:
                finish()
            except Exception:
                _logger.exception("Flushing the trace exporters failed")

        thread = threading.Thread(target=flush, name="obssched-trace-flush", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            _logger.warning(
                "Gave up exporting the last spans after %s s (is the collector reachable?)", timeout
            )


def setup_tracing(console: bool) -> TracingSetup:
    """Return the provider the command traces with, installed as the global one.

    The global provider is set too, so that spans the jobs create themselves are exported under
    their run's span. One the process already has is used as it is.

    Raises:
        CliError: the ``OTEL_*`` variables name an exporter or protocol that is not installed or
            not known (``USAGE``, which also stands for a missing optional package).
    """
    from opentelemetry import trace
    from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED

    existing = trace.get_tracer_provider()
    if not isinstance(existing, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        _logger.info("Tracing with the tracer provider the process already has")
        return TracingSetup(existing, [f"the application's {type(existing).__name__}"], False)
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        _logger.info("Tracing disabled by %s: no spans are recorded", OTEL_SDK_DISABLED)
        return TracingSetup(None, [])
    setup = build_provider(console)
    assert setup.provider is not None
    trace.set_tracer_provider(setup.provider)
    return setup


def find_exporter(name: str) -> EntryPoint | None:
    """Return the installed trace exporter entry point called ``name``, if there is one."""
    return next(iter(entry_points(group=EXPORTER_GROUP, name=name)), None)


def build_provider(
    console: bool, find: Callable[[str], EntryPoint | None] = find_exporter
) -> TracingSetup:
    """Make an SDK tracer provider from the ``OTEL_*`` variables, with the exporters they ask
    for (and the console one if ``console``), looked up with ``find``; nothing global is touched.

    Raises:
        CliError: as :func:`setup_tracing`.
    """
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [(name, _load_exporter(name, find(name))) for name in exporter_names(console)]
    provider = SdkTracerProvider(resource=_resource())
    for _, exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return TracingSetup(provider, [_describe(name) for name, _ in exporters])


def exporter_names(console: bool) -> list[str]:
    """Return the entry point names of the exporters the environment asks for, in order.

    Raises:
        CliError: ``otlp`` is asked for over a protocol no exporter speaks (``USAGE``).
    """
    from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
    from opentelemetry.sdk.environment_variables import (
        OTEL_EXPORTER_OTLP_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    )

    env = os.environ
    named = [n.strip() for n in env.get(OTEL_TRACES_EXPORTER, "").split(",") if n.strip()]
    if not named and (
        env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    ):
        named = ["otlp"]
    if "none" in named:
        named = []
    if console:
        named.append("console")
    names: list[str] = []
    for name in named:
        resolved = _otlp_exporter() if name == "otlp" else name
        if resolved not in names:
            names.append(resolved)
    return names


def _otlp_exporter() -> str:
    from opentelemetry.sdk.environment_variables import (
        OTEL_EXPORTER_OTLP_PROTOCOL,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    )

    variable = OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    protocol = os.environ.get(variable, "").strip()
    if not protocol:
        variable = OTEL_EXPORTER_OTLP_PROTOCOL
        # The specification's default; the SDK's own configurator still picks gRPC.
        protocol = os.environ.get(variable, "").strip() or "http/protobuf"
    exporter = _OTLP_BY_PROTOCOL.get(protocol)
    if exporter is None:
        raise CliError(
            f"environment variable {variable}: unsupported OTLP protocol {protocol!r}; "
            f"obssched exports traces over {' or '.join(map(repr, _OTLP_BY_PROTOCOL))}",
            ExitCode.USAGE,
        )
    return exporter


def _load_exporter(name: str, point: EntryPoint | None) -> SpanExporter:
    from opentelemetry.sdk.trace.export import SpanExporter

    extra, package = _EXTRA_OF.get(name, ("", ""))
    if point is None:
        if extra:
            raise _missing(name, extra, package, "not installed")
        known = sorted(
            {"otlp", "none", *(other.name for other in entry_points(group=EXPORTER_GROUP))}
        )
        raise CliError(
            f"environment variable OTEL_TRACES_EXPORTER: no trace exporter named {name!r} is "
            f"installed (installed: {', '.join(known)}); install the package that provides it, "
            "or name another",
            ExitCode.USAGE,
        )
    try:
        exporter_class = point.load()
    except ImportError as exc:
        distribution = point.dist.name if point.dist is not None else "the package providing it"
        raise _missing(name, extra or distribution, package, str(exc)) from exc
    if not (isinstance(exporter_class, type) and issubclass(exporter_class, SpanExporter)):
        raise CliError(
            f"environment variable OTEL_TRACES_EXPORTER: {name!r} ({point.value}) is not a "
            "trace exporter",
            ExitCode.USAGE,
        )
    exporter: SpanExporter = exporter_class()
    return exporter


def _missing(name: str, extra: str, package: str, reason: str) -> CliError:
    wanted = f"'pip install {extra}'" + (f" ({package})" if package else "")
    return CliError(
        f"tracing to {name!r} (asked for by the OTEL_* variables) needs a package that is "
        f"missing ({reason}); install it with {wanted}, or change OTEL_TRACES_EXPORTER / "
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        _MISSING_PACKAGE,
    )


def _resource() -> Resource:
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    # Attributes passed to create() override the variables: the default is given only when
    # they name no service.
    if SERVICE_NAME in OTELResourceDetector().detect().attributes:
        return Resource.create()
    return Resource.create({SERVICE_NAME: _DEFAULT_SERVICE_NAME})


def _describe(name: str) -> str:
    from opentelemetry.sdk.environment_variables import (
        OTEL_EXPORTER_OTLP_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    )

    env = os.environ
    if name == "console":
        return "console (stdout)"
    traces_endpoint = env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "").strip()
    endpoint = env.get(OTEL_EXPORTER_OTLP_ENDPOINT, "").strip()
    if name == "otlp_proto_http":
        if not traces_endpoint:
            base = endpoint or "http://localhost:4318"
            traces_endpoint = base.rstrip("/") + "/v1/traces"
        return f"OTLP/HTTP ({traces_endpoint})"
    if name == "otlp_proto_grpc":
        return f"OTLP/gRPC ({traces_endpoint or endpoint or 'http://localhost:4317'})"
    return name
