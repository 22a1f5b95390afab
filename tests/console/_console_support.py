"""Helpers shared by the console's server-side tests: a scheduler on a manual clock, and calls
to the console's WSGI app as a browser or a script would make them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

from obssched.console import ConsoleSettings, make_wsgi_app
from obssched.testing import ManualClock, ManualScheduler

HOST = "127.0.0.1:9464"
"""The ``Host`` a browser sends to a console bound to loopback."""

TOKEN = "s3cret-token-for-tests"


def noop(*args: Any, **kwargs: Any) -> None:
    """A job body that does nothing."""


def fail(*args: Any, **kwargs: Any) -> None:
    """A job body that raises."""
    raise ValueError("it broke <b>here</b>")


def make_scheduler(clock: ManualClock | None = None) -> ManualScheduler:
    """A started manual scheduler (inline executor), without built-in observability."""
    scheduler = ManualScheduler(clock=clock or ManualClock(), metrics=False, tracing=False)
    scheduler.start()
    return scheduler


def settings(**changes: Any) -> ConsoleSettings:
    """Console settings that wait as long as a loaded machine needs for an in-memory store."""
    changes.setdefault("store_wait", 30.0)
    return ConsoleSettings(**changes)


@dataclass
class Answer:
    """What the app answered."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Any,
    path: str,
    *,
    method: str = "GET",
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> Answer:
    """Make one request to a WSGI app; ``headers`` default to a same-origin browser's."""
    body = b"" if form is None else urlencode(form).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": urlencode(query or {}),
        "wsgi.input": BytesIO(body),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)),
    }
    if form is not None:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    for name, value in ({"Host": HOST} if headers is None else headers).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = app(environ, lambda status, hdrs, *exc: started.append((status, hdrs)))
    content = b"".join(chunks)
    status, hdrs = started[0]
    return Answer(int(status.split()[0]), {k.lower(): v for k, v in hdrs}, content)


def console(scheduler: ManualScheduler, **changes: Any) -> Any:
    """The console's WSGI app for ``scheduler``."""
    return make_wsgi_app(scheduler, settings(**changes))
