"""obssched: an APScheduler 3 compatible job scheduler with metrics and traces built in.

The observability entry points are importable from here; they load the Prometheus and
OpenTelemetry machinery on first use, so ``import obssched`` stays cheap.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("obssched")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

#: The release as APScheduler 3 spells it beside ``__version__``: the text, and its numeric parts.
version = __version__
version_info: tuple[int | str, ...] = tuple(
    int(part) if part.isdigit() else part for part in __version__.split(".")
)

if TYPE_CHECKING:
    from obssched.observability import (
        PortInUseError,
        instrument,
        make_asgi_app,
        make_wsgi_app,
        start_http_server,
    )

__all__ = [
    "PortInUseError",
    "__version__",
    "instrument",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
    "version",
    "version_info",
]

_OBSERVABILITY = frozenset(
    {"PortInUseError", "instrument", "make_asgi_app", "make_wsgi_app", "start_http_server"}
)


def __getattr__(name: str) -> Any:
    if name in _OBSERVABILITY:
        from obssched import observability

        return getattr(observability, name)
    raise AttributeError(f"module 'obssched' has no attribute {name!r}")
