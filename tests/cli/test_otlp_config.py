"""How the command reads the OTEL_* variables into a tracer provider (in process; nothing global
is set: `build_provider` only makes the provider)."""

from __future__ import annotations

import os
import threading
from importlib.metadata import EntryPoint

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from obssched.cli import ExitCode
from obssched.cli._errors import CliError
from obssched.cli._otel import (
    EXPORTER_GROUP,
    TracingSetup,
    build_provider,
    exporter_names,
    find_exporter,
)


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without OTEL_* variables."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("env", "console", "expected"),
    [
        ({}, False, []),
        ({}, True, ["console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False, ["otlp_proto_http"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/t"}, False, ["otlp_proto_http"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, False, ["otlp_proto_http"]),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            False,
            ["otlp_proto_grpc"],
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            False,
            ["otlp_proto_http"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, False, ["console"]),
        ({"OTEL_TRACES_EXPORTER": " otlp , console "}, True, ["otlp_proto_http", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, True, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, True, ["console"]),
    ],
    ids=[
        "nothing",
        "flag",
        "endpoint",
        "traces-endpoint",
        "exporter-otlp",
        "protocol-grpc",
        "traces-protocol-wins",
        "exporter-console",
        "list-and-flag",
        "none-beats-endpoint",
        "none-and-flag",
        "console-once",
    ],
)
def test_exporters_follow_the_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], console: bool, expected: list[str]
) -> None:
    """The exporters are those OTEL_TRACES_EXPORTER names (an endpoint alone means OTLP), OTLP's
    by its protocol, plus the console for --trace-console."""
    set_env(monkeypatch, env)
    assert exporter_names(console) == expected


def test_unsupported_protocol_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OTLP protocol no exporter speaks exits with the usage code, naming it."""
    set_env(
        monkeypatch, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    )
    with pytest.raises(CliError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*'http/json'") as caught:
        exporter_names(False)
    assert caught.value.code == ExitCode.USAGE


def test_unknown_exporter_is_a_usage_error_listing_the_installed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exporter name no installed package provides is refused, with those that are."""
    set_env(monkeypatch, {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(
        CliError, match=r"'zipkin'.*installed: .*console.*otlp_proto_http"
    ) as caught:
        build_provider(False)
    assert caught.value.code == ExitCode.USAGE


@pytest.mark.parametrize(
    "found",
    [None, EntryPoint("otlp_proto_grpc", "obssched_no_such_module:Exporter", EXPORTER_GROUP)],
    ids=["not-installed", "not-importable"],
)
def test_missing_grpc_exporter_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, found: EntryPoint | None
) -> None:
    """gRPC without its exporter is the missing-package error, naming obssched[grpc]."""
    set_env(monkeypatch, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "otlp"})
    with pytest.raises(CliError, match=r"pip install obssched\[grpc\]") as caught:
        build_provider(False, find=lambda name: found)
    assert caught.value.code == ExitCode.USAGE


def test_an_entry_point_that_is_no_span_exporter_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exporter name whose entry point is not a span exporter is a usage error."""
    set_env(monkeypatch, {"OTEL_TRACES_EXPORTER": "odd"})
    point = EntryPoint("odd", "collections:OrderedDict", EXPORTER_GROUP)
    with pytest.raises(CliError, match=r"'odd' \(collections:OrderedDict\) is not a trace"):
        build_provider(False, find=lambda name: point)


def test_installed_exporters_are_found_by_their_entry_point() -> None:
    """The SDK's console exporter and the OTLP/HTTP one are found; an unknown name is not."""
    assert find_exporter("console") is not None
    assert find_exporter("otlp_proto_http") is not None
    assert find_exporter("obssched-no-such-exporter") is None


def test_without_an_exporter_spans_are_still_recorded() -> None:
    """With no variable set the provider is an SDK one that records spans, exporting nowhere."""
    setup = build_provider(False)
    assert isinstance(setup.provider, TracerProvider)
    assert setup.exporters == []
    with setup.provider.get_tracer("t").start_as_current_span("s") as span:
        assert span.is_recording()
        assert span.get_span_context().trace_flags.sampled
    setup.shutdown()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "OTLP/HTTP (http://c:4318/v1/traces)"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "OTLP/HTTP (http://localhost:4318/v1/traces)"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x",
            },
            "OTLP/HTTP (http://t:1/x)",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTLP/gRPC (http://c:4317)",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTLP/gRPC (http://localhost:4317)",
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console (stdout)"),
    ],
    ids=["http", "http-default", "http-traces-endpoint", "grpc", "grpc-default", "console"],
)
def test_the_log_says_where_spans_go(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    """Each exporter is described with the endpoint it sends to."""
    set_env(monkeypatch, env)
    setup = build_provider(False)
    try:
        assert setup.exporters == [expected]
    finally:
        setup.shutdown(timeout=0.1)


@pytest.mark.parametrize(
    ("env", "service"),
    [
        ({}, "obssched"),
        ({"OTEL_SERVICE_NAME": "billing"}, "billing"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=reports"}, "reports"),
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "service.name=reports", "OTEL_SERVICE_NAME": "billing"},
            "billing",
        ),
    ],
    ids=["default", "service-name", "resource-attributes", "service-name-wins"],
)
def test_service_name(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], service: str) -> None:
    """The resource's service is named by the variables, obssched when they name none."""
    set_env(monkeypatch, env)
    setup = build_provider(False)
    assert isinstance(setup.provider, TracerProvider)
    assert setup.provider.resource.attributes["service.name"] == service


def test_a_provider_the_command_did_not_make_is_flushed_not_shut_down() -> None:
    """Shutting down the tracing of a provider found in the process only flushes it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    TracingSetup(provider, ["found"], owned=False).shutdown()
    provider.get_tracer("t").start_span("after").end()
    assert [span.name for span in exporter.get_finished_spans()] == ["after"]
    provider.shutdown()


def test_an_owned_provider_is_shut_down() -> None:
    """Shutting down the tracing of the command's own provider shuts the provider down."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    TracingSetup(provider, []).shutdown()
    provider.get_tracer("t").start_span("after").end()
    assert exporter.get_finished_spans() == ()


@pytest.mark.realtime
def test_shutdown_gives_up_on_a_provider_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    """A flush that does not return within the timeout is abandoned with a warning."""
    release = threading.Event()

    class Stuck:
        def shutdown(self) -> None:
            release.wait(30)

    try:
        TracingSetup(Stuck(), []).shutdown(timeout=0.05)  # type: ignore[arg-type]
    finally:
        release.set()
    assert "Gave up exporting the last spans" in caplog.text


def test_shutdown_logs_a_failing_flush(caplog: pytest.LogCaptureFixture) -> None:
    """A flush that raises is logged, not raised."""

    class Broken:
        def shutdown(self) -> None:
            raise RuntimeError("collector gone")

    TracingSetup(Broken(), []).shutdown()  # type: ignore[arg-type]
    assert "Flushing the trace exporters failed" in caplog.text


def test_a_found_provider_without_force_flush_is_left_alone() -> None:
    """A provider found in the process that cannot flush (an API-only one) is not shut down."""
    calls: list[str] = []

    class ApiOnly:
        def shutdown(self) -> None:
            calls.append("shutdown")

    TracingSetup(ApiOnly(), ["found"], owned=False).shutdown()  # type: ignore[arg-type]
    assert calls == []


def test_another_installed_exporter_is_used_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exporter another package registers is made from its entry point and named as is."""
    set_env(monkeypatch, {"OTEL_TRACES_EXPORTER": "memory"})
    point = EntryPoint(
        "memory",
        "opentelemetry.sdk.trace.export.in_memory_span_exporter:InMemorySpanExporter",
        EXPORTER_GROUP,
    )
    setup = build_provider(False, find=lambda name: point if name == "memory" else None)
    assert setup.exporters == ["memory"]
    setup.shutdown()
