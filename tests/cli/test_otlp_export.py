"""`obssched run` exports its spans over OTLP, http/protobuf or gRPC, as the OTEL_* variables say.

Each test runs a receiver in the test process (a small HTTP server, or a gRPC server with
opentelemetry-proto's TraceService) that decodes `ExportTraceServiceRequest`s, and runs the
command against it; the command flushes its spans before it exits.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)

from obssched.cli import ExitCode

from .conftest import Workdir, clean_env, free_port

pytestmark = [pytest.mark.realtime]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

JOBS = """
[[jobs]]
id = "tick"
name = "tick"
func = "clitasks:record"
trigger = "interval"
seconds = 0.3
args = ["ticks.txt"]
"""


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as a receiver decoded it, with its resource's string attributes."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    resource: dict[str, str]
    attributes: frozenset[str]


class Received:
    """What a receiver got: the request paths and the spans, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paths: list[str] = []
        self.spans: list[ReceivedSpan] = []

    def add(self, path: str, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            self.paths.append(path)
            for resource_spans in request.resource_spans:
                resource = {
                    item.key: item.value.string_value for item in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(
                        ReceivedSpan(
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            resource,
                            frozenset(item.key for item in span.attributes),
                        )
                        for span in scope_spans.spans
                    )

    def names(self) -> set[str]:
        with self._lock:
            return {span.name for span in self.spans}


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on a free port: its base URL and what it received."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.add(self.path, ExportTraceServiceRequest.FromString(body))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/gRPC receiver (insecure) on a free port: its URL and what it received."""
    received = Received()

    class Service(TraceServiceServicer):
        def Export(
            self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
        ) -> ExportTraceServiceResponse:
            received.add(context.peer(), request)
            return ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None).wait(timeout=10)


def run(workdir: Workdir, **env: str) -> tuple[int, str]:
    """Run the jobs file for a moment with ``env`` added; return the exit code and stderr."""
    workdir.write("jobs.toml", JOBS)
    workdir.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    workdir.env.update(env)
    result = workdir.run(
        "run", "jobs.toml", "--store", "memory", "--metrics-port", str(free_port()),
        "--duration", "1.5",
    )  # fmt: skip
    return result.returncode, result.stderr


def assert_job_spans_arrived(received: Received) -> None:
    """The job's runs arrived as one root span each, with the queue wait before its body."""
    assert received.spans
    assert {span.name for span in received.spans} == {"run tick"}
    assert {span.parent_span_id for span in received.spans} == {""}
    assert all("obssched.queue_wait" in span.attributes for span in received.spans)


def test_http_protobuf_export_delivers_the_job_spans(
    workdir: Workdir, http_receiver: tuple[str, Received]
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone exports the runs' spans over OTLP/HTTP to /v1/traces."""
    endpoint, received = http_receiver
    code, stderr = run(workdir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert code == ExitCode.OK, stderr
    assert_job_spans_arrived(received)
    assert set(received.paths) == {"/v1/traces"}
    assert f"Tracing: OTLP/HTTP ({endpoint}/v1/traces)" in stderr


def test_traces_endpoint_is_used_as_given(
    workdir: Workdir, http_receiver: tuple[str, Received]
) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL the spans are posted to."""
    endpoint, received = http_receiver
    code, stderr = run(workdir, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{endpoint}/collector/spans")
    assert code == ExitCode.OK, stderr
    assert_job_spans_arrived(received)
    assert set(received.paths) == {"/collector/spans"}


def test_gzip_compression_is_the_exporters_own(
    workdir: Workdir, http_receiver: tuple[str, Received]
) -> None:
    """OTEL_EXPORTER_OTLP_COMPRESSION=gzip reaches the exporter: the receiver decodes gzip."""
    endpoint, received = http_receiver
    code, stderr = run(
        workdir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_EXPORTER_OTLP_COMPRESSION="gzip"
    )
    assert code == ExitCode.OK, stderr
    assert_job_spans_arrived(received)


@pytest.mark.parametrize(
    "selection",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "otlp_proto_grpc"},
    ],
    ids=["protocol", "traces-protocol-wins", "exporter-otlp", "exporter-named"],
)
def test_grpc_export_delivers_the_job_spans(
    workdir: Workdir, grpc_receiver: tuple[str, Received], selection: dict[str, str]
) -> None:
    """The gRPC protocol, chosen by any of the standard variables, exports the runs' spans."""
    endpoint, received = grpc_receiver
    code, stderr = run(workdir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **selection)
    assert code == ExitCode.OK, stderr
    assert_job_spans_arrived(received)
    assert f"Tracing: OTLP/gRPC ({endpoint})" in stderr


@pytest.mark.parametrize(
    ("env", "service"),
    [
        ({}, "obssched"),
        ({"OTEL_SERVICE_NAME": "billing"}, "billing"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=reports,team=ops"}, "reports"),
    ],
    ids=["default", "service-name", "resource-attributes"],
)
def test_service_name_comes_from_the_environment(
    workdir: Workdir, http_receiver: tuple[str, Received], env: dict[str, str], service: str
) -> None:
    """The spans' service is OTEL_SERVICE_NAME's or OTEL_RESOURCE_ATTRIBUTES', else obssched."""
    endpoint, received = http_receiver
    code, stderr = run(workdir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **env)
    assert code == ExitCode.OK, stderr
    assert received.spans
    assert {span.resource["service.name"] for span in received.spans} == {service}


def test_resource_attributes_reach_the_spans(
    workdir: Workdir, http_receiver: tuple[str, Received]
) -> None:
    """OTEL_RESOURCE_ATTRIBUTES' other attributes go with the spans too."""
    endpoint, received = http_receiver
    code, stderr = run(
        workdir,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=staging",
    )
    assert code == ExitCode.OK, stderr
    assert received.spans
    assert received.spans[0].resource["deployment.environment.name"] == "staging"


@pytest.mark.parametrize(
    "env",
    [{"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true"}],
    ids=["exporter-none", "sdk-disabled"],
)
def test_export_can_be_turned_off_with_an_endpoint_set(
    workdir: Workdir, http_receiver: tuple[str, Received], env: dict[str, str]
) -> None:
    """OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true send nothing to the endpoint."""
    endpoint, received = http_receiver
    code, stderr = run(workdir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **env)
    assert code == ExitCode.OK, stderr
    assert workdir.lines("ticks.txt")
    assert received.spans == []


def test_missing_grpc_exporter_names_the_extra(workdir: Workdir) -> None:
    """gRPC asked for where its exporter cannot be imported exits with the missing-package code
    (the usage one), naming obssched[grpc]."""
    # A package shadowing the gRPC exporter stands for an install without the extra.
    shadow = workdir.path / "shadow" / "opentelemetry" / "exporter" / "otlp" / "proto" / "grpc"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'grpc'\")\n")
    workdir.env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(workdir.path / "shadow"), workdir.env.get("PYTHONPATH")])
    )
    code, stderr = run(
        workdir,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    assert code == ExitCode.USAGE
    assert "obssched[grpc]" in stderr
    assert workdir.lines("ticks.txt") == []


@pytest.mark.slow
def test_otlp_example_exports_to_the_endpoint(http_receiver: tuple[str, Received]) -> None:
    """examples/tracing_otlp.py sends its job's spans to OTEL_EXPORTER_OTLP_ENDPOINT."""
    endpoint, received = http_receiver
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "tracing_otlp.py"), "2"],
        env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "run work" in received.names()
    assert {span.resource["service.name"] for span in received.spans} == {"obssched-example"}
