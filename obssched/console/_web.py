"""Requests and responses of the console, and the checks every one of them passes.

The console binds to loopback by default, but a web page the user visits can still reach it by
DNS rebinding (a name of the attacker's that resolves to 127.0.0.1): such a request carries the
attacker's name in ``Host``, so requests for any host but the bound address, the loopback names
and the configured ones are refused. Every response carries a strict Content-Security-Policy (no
inline script, no framing). Actions also need the token and a same-origin request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "SECURITY_HEADERS",
    "ApiError",
    "Request",
    "Response",
    "allowed_host",
    "authorized",
    "json_response",
    "same_origin",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
"""Headers every response of the console carries (the metrics endpoints' included)."""

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})

MAX_BODY = 64 * 1024
"""The largest request body read (an action's form: a token, at most)."""

REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    500: "Internal Server Error",
}


class ApiError(Exception):
    """A request the API answers with an error status and a JSON ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class Request:
    """One HTTP request, as both the WSGI and the ASGI app see it.

    ``headers`` has lower-case names; ``path`` is decoded (``%2F`` is ``/``).
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    scheme: str = "http"

    def form(self) -> dict[str, str]:
        """The body's fields, when it is a URL-encoded form."""
        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Response:
    """One HTTP response; :data:`SECURITY_HEADERS` are added when it is sent."""

    status: int
    body: bytes
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[str, str]]:
        """The headers to send, security headers and length included."""
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *self.headers,
            *SECURITY_HEADERS,
        ]

    @property
    def status_line(self) -> str:
        """``200 OK``."""
        return f"{self.status} {REASONS.get(self.status, 'Unknown')}"


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON response: ASCII only, with ``<``, ``>`` and ``&`` escaped, never cached."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Response(
        status,
        text.encode("ascii"),
        "application/json",
        [("Cache-Control", "no-store"), *headers],
    )


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON error: ``{"error": message, "status": status}``."""
    return json_response(status, {"error": message, "status": status}, headers)


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header or URL authority, lower-cased, without its port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def allowed_host(host_header: str | None, bound: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether a request for ``host_header`` may be answered (the DNS-rebinding defence).

    The loopback names, the bound addresses and the ``allowed`` names are accepted; ``*`` in
    ``allowed`` accepts any host. A request without ``Host`` (HTTP/1.0) is accepted: a browser
    always sends one.
    """
    if host_header is None:
        return True
    names = set(allowed)
    if "*" in names:
        return True
    host = host_name(host_header)
    if not host:
        return False
    bound_names = {host_name(addr) for addr in bound}
    # A server bound to every address is reached by any of the machine's names: only the
    # loopback ones and those configured are known to be the user's own.
    bound_names -= {"0.0.0.0", "::", ""}
    return host in LOOPBACK_HOSTS or host in bound_names or host in {n.lower() for n in names}


def same_origin(request: Request) -> bool:
    """Whether a request comes from the console's own pages (or from a non-browser client).

    Browsers say where a request comes from with ``Sec-Fetch-Site``, ``Origin`` or ``Referer``;
    each one present must name this origin. A request with none of them is not a browser's
    (a script's): the token alone authorizes it.
    """
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    host = headers.get("host")
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value is None:
            continue
        if value == "null" or host is None:
            return False
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
            return False
    return True


def authorized(request: Request, token: str | None) -> bool:
    """Whether the request carries ``token`` (``Authorization: Bearer`` or a ``token`` field)."""
    if not token:
        return False
    given = None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        given = value.strip()
    else:
        given = request.form().get("token")
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8", "replace"))
