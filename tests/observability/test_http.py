"""The one HTTP server: bound first, serving the app it is given once started, over HTTPS with
client certificates as prometheus-client's ``start_http_server``."""

from __future__ import annotations

import inspect
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter

from obssched.cli._status import serve
from obssched.observability import MetricsServer, PortInUseError, start_http_server

pytestmark = pytest.mark.realtime


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def test_serves_the_app_given_to_start() -> None:
    """A server bound without an app serves the one later given to start()."""
    server = MetricsServer("127.0.0.1", 0)
    try:
        server.start(hello)
        with urllib.request.urlopen(server.url + "/anything", timeout=10) as response:
            assert response.read() == b"hello\n"
    finally:
        server.close()


def test_start_without_an_app_is_refused() -> None:
    """start() with no app to serve raises, naming the server's address."""
    server = MetricsServer("127.0.0.1", 0)
    try:
        with pytest.raises(ValueError, match=server.url):
            server.start()
    finally:
        server.close()


def test_close_before_start_frees_the_port() -> None:
    """A server closed before it started releases its port."""
    server = MetricsServer("127.0.0.1", 0)
    server.close()
    again = MetricsServer("127.0.0.1", server.port)
    again.close()


def test_status_server_refuses_a_taken_port() -> None:
    """The CLI's server is this one: binding a taken port raises PortInUseError."""
    server = serve("127.0.0.1", 0)
    try:
        with pytest.raises(PortInUseError, match=str(server.port)):
            serve("127.0.0.1", server.port)
    finally:
        server.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a
    client certificate no CA signed (PEM files, made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("pki")
    files = {name: str(folder / name) for name in
             ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
              "rogue.pem", "rogue.key", "san.ext")}  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    for name in ("ca", "rogue"):
        run("req", "-x509", *key, "-keyout", files[f"{name}.key"], "-out", files[f"{name}.pem"],
            "-days", "2", "-subj", f"/CN=obssched test {name}")  # fmt: skip
    for serial, name in enumerate(("server", "client"), start=1):
        csr = str(folder / f"{name}.csr")
        run("req", *key, "-keyout", files[f"{name}.key"], "-out", csr, "-subj", "/CN=127.0.0.1")
        run("x509", "-req", "-in", csr, "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
            "-set_serial", str(serial), "-days", "2", "-out", files[f"{name}.pem"],
            "-extfile", files["san.ext"])  # fmt: skip
    return files


def fetch(url: str, pki: dict[str, str], client: str | None = None) -> bytes:
    """GET ``url`` over HTTPS trusting the test CA, presenting ``client``'s certificate if given."""
    context = ssl.create_default_context(cafile=pki["ca.pem"])
    if client is not None:
        context.load_cert_chain(pki[f"{client}.pem"], pki[f"{client}.key"])
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        body: bytes = response.read()
    return body


@pytest.fixture
def tls_server(registry: CollectorRegistry, pki: dict[str, str]) -> Iterator[MetricsServer]:
    """start_http_server over HTTPS requiring a client certificate signed by the test CA."""
    server = start_http_server(0, registry=registry, certfile=pki["server.pem"],
                               keyfile=pki["server.key"], client_cafile=pki["ca.pem"],
                               client_auth_required=True)  # fmt: skip
    yield server
    server.close()


def test_https_serves_a_client_the_ca_signed(
    tls_server: MetricsServer, registry: CollectorRegistry, pki: dict[str, str]
) -> None:
    """A client presenting a certificate the CA signed gets /metrics over HTTPS."""
    Counter("app_requests", "Requests served.", registry=registry).inc()
    assert tls_server.url.startswith("https://")
    assert b"app_requests_total 1.0" in fetch(tls_server.url + "/metrics", pki, "client")


@pytest.mark.parametrize("client", [None, "rogue"], ids=["no-certificate", "unknown-ca"])
def test_https_refuses_a_client_without_a_signed_certificate(
    tls_server: MetricsServer, pki: dict[str, str], client: str | None
) -> None:
    """With client_auth_required, a client without a certificate the CA signed gets nothing."""
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        fetch(tls_server.url + "/metrics", pki, client)


def test_https_refusal_leaves_the_server_serving(
    tls_server: MetricsServer, pki: dict[str, str]
) -> None:
    """A refused client does not stop the server answering the next, signed one."""
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        fetch(tls_server.url + "/healthz", pki, "rogue")
    with pytest.raises(urllib.error.HTTPError) as error:  # no scheduler attached: 503
        fetch(tls_server.url + "/healthz", pki, "client")
    error.value.close()
    assert error.value.code == 503


def test_https_without_client_certificates(
    registry: CollectorRegistry, pki: dict[str, str]
) -> None:
    """Without a client CA, any client is served over HTTPS."""
    server = start_http_server(0, registry=registry, certfile=pki["server.pem"],
                               keyfile=pki["server.key"])  # fmt: skip
    try:
        assert fetch(server.url + "/metrics", pki) == b""
    finally:
        server.close()


def test_optional_client_ca_still_refuses_an_unknown_ca(
    registry: CollectorRegistry, pki: dict[str, str]
) -> None:
    """A client CA without client_auth_required lets certificate-less clients in, not rogue ones."""
    server = start_http_server(0, registry=registry, certfile=pki["server.pem"],
                               keyfile=pki["server.key"], client_cafile=pki["ca.pem"])  # fmt: skip
    try:
        assert fetch(server.url + "/metrics", pki) == b""
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            fetch(server.url + "/metrics", pki, "rogue")
    finally:
        server.close()


def test_tls_options_without_certfile_are_refused(registry: CollectorRegistry) -> None:
    """A client CA or TLS requirement without a server certificate is an error naming it."""
    with pytest.raises(ValueError, match="client_cafile, client_auth_required given without"):
        start_http_server(0, registry=registry, client_cafile="ca.pem", client_auth_required=True)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"certfile": "missing.pem"}, "'missing.pem'"),
        ({"certfile": "server.pem", "client_cafile": "missing-ca.pem"}, "'missing-ca.pem'"),
    ],
    ids=["certificate", "client-ca"],
)
def test_unreadable_tls_files_are_named(
    registry: CollectorRegistry,
    pki: dict[str, str],
    arguments: dict[str, str],
    named: str,
) -> None:
    """A certificate or CA file that cannot be loaded fails with its name in the message."""
    paths = {key: pki.get(value, value) for key, value in arguments.items()}
    with pytest.raises(OSError, match=named):
        start_http_server(0, registry=registry, keyfile=pki["server.key"], **paths)  # type: ignore[arg-type]


def test_tls_min_version_refuses_older_clients(
    registry: CollectorRegistry, pki: dict[str, str]
) -> None:
    """A client limited to TLS 1.2 is refused by a server asking for TLS 1.3 at least."""
    server = start_http_server(0, registry=registry, certfile=pki["server.pem"],
                               keyfile=pki["server.key"],
                               tls_min_version=ssl.TLSVersion.TLSv1_3)  # fmt: skip
    context = ssl.create_default_context(cafile=pki["ca.pem"])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        assert fetch(server.url + "/metrics", pki) == b""
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(server.url + "/metrics", timeout=10, context=context)
    finally:
        server.close()


def test_metrics_server_serves_https_with_a_certificate(pki: dict[str, str]) -> None:
    """A MetricsServer bound with a certificate serves its app over HTTPS."""
    server = MetricsServer("127.0.0.1", 0, hello, certfile=pki["server.pem"],
                           keyfile=pki["server.key"])  # fmt: skip
    try:
        server.start()
        assert fetch(server.url + "/", pki) == b"hello\n"
    finally:
        server.close()


def test_start_http_server_takes_prometheus_client_arguments_in_order() -> None:
    """start_http_server takes prometheus-client's arguments, TLS ones included, in its order."""
    theirs = list(inspect.signature(prometheus_client.start_http_server).parameters)
    ours = list(inspect.signature(start_http_server).parameters)
    assert ours[: len(theirs)] == theirs
