"""Mounting /metrics and /healthz in an existing WSGI application (Flask-style dispatch).

With Flask: ``DispatcherMiddleware(app.wsgi_app, {"/metrics": make_wsgi_app()})``. Here the
standard library's wsgiref serves a tiny dispatcher so the example has no extra dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

from obssched.observability import make_wsgi_app
from obssched.schedulers.background import BackgroundScheduler

metrics_app = make_wsgi_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The application: its own pages, plus /metrics and /healthz from obssched."""
    if environ["PATH_INFO"] in ("/metrics", "/healthz"):
        return metrics_app(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


if __name__ == "__main__":
    scheduler = BackgroundScheduler()
    scheduler.add_job(print, "interval", seconds=5, args=["tick"], name="tick")
    scheduler.start()
    make_server("127.0.0.1", 8000, app).serve_forever()
