"""Real database faults under a running scheduler: /metrics keeps answering, /healthz tells.

SQLite loses its jobs table or is opened read-only; PostgreSQL is reached through a relay the
test cuts (connections refused, as from a closed port) and restores. Reads of a failing
database retry for about a second and a half: the scrapes here are bounded all the same, and a
loop of scrapes (each waiting at most half a second on the reads in flight) stands in for
waiting until a read has come back.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.engine import make_url

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.observability import make_wsgi_app
from obssched.observability._reader import STALLED_READ
from obssched.testing import ManualClock, ManualScheduler

from . import jobs
from .test_exposition import call_wsgi
from .test_store_faults import in_thread

pytestmark = [pytest.mark.realtime, pytest.mark.faults]

ATTEMPTS = 100
"""Scrapes tried before a store that should have come back (or gone) fails the test."""


def up(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value(
        "obssched_jobstore_up", {"scheduler": "default", "jobstore": "default"}
    )


def eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` (which scrapes) holds within :data:`ATTEMPTS` scrapes."""
    return any(condition() for _ in range(ATTEMPTS))


def started(
    clock: ManualClock, registry: CollectorRegistry, url: str, **store: Any
) -> Iterator[ManualScheduler]:
    scheduler = ManualScheduler(
        clock=clock,
        metrics_registry=registry,
        tracing=False,
        jobstores={"default": SQLAlchemyJobStore(url=url, **store)},
    )
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-01-01 00:00 UTC."""
    return ManualClock()


@pytest.fixture
def sqlite(
    tmp_path: Path, clock: ManualClock, registry: CollectorRegistry
) -> Iterator[ManualScheduler]:
    """A started manual scheduler whose job store is a SQLite file."""
    yield from started(clock, registry, f"sqlite:///{tmp_path / 'jobs.sqlite'}")


def test_sqlite_table_dropped(
    sqlite: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """With its table dropped the store is down, /metrics still 200, /healthz 503; then back."""
    sqlite.add_job(jobs.current_trace, "interval", seconds=10, name="report", id="r")
    assert up(registry) == 1
    store = sqlite.context.jobstores["default"]
    assert isinstance(store, SQLAlchemyJobStore)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE obssched_jobs"))
    status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
    assert status == "200 OK"
    assert b'job_id="r"' in body
    clock.advance(STALLED_READ + 1)
    assert eventually(lambda: up(registry) == 0)
    clock.advance(60)
    status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/healthz"))
    assert status == "503 Service Unavailable"
    assert b"job store 'default' has not answered" in body
    store.tables.jobs.create(store.engine)
    assert eventually(lambda: up(registry) == 1)


def test_sqlite_read_only(tmp_path: Path, clock: ManualClock, registry: CollectorRegistry) -> None:
    """A read-only SQLite file cannot save a run: the store is down, /metrics still 200, and
    /healthz 503 once that has lasted past the limit."""
    path = tmp_path / "jobs.sqlite"
    for scheduler in started(clock, CollectorRegistry(), f"sqlite:///{path}"):
        scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="report", id="r")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    # A read-only file cannot record which scheduler serves it: the store is opened without
    # taking it (as the admin commands open one), so the fault under test is the failed save.
    for scheduler in started(clock, registry, read_only, exclusive=False):
        assert up(registry) == 1
        clock.advance(10)
        scheduler.tick()  # runs the job; saving its next run time fails, and every read after
        status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
        assert status == "200 OK"
        assert b'job_id="r"' in body
        assert eventually(lambda: up(registry) == 0)
        errors = registry.get_sample_value(
            "obssched_jobstore_errors_total", {"scheduler": "default", "jobstore": "default"}
        )
        assert errors
        clock.advance(61)
        scheduler.tick()
        status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/healthz"))
        assert status == "503 Service Unavailable"
        assert b"job store 'default' has not answered" in body
        assert b"readonly database" in body


class Relay:
    """A TCP relay to a server, on a fixed local port, that the test can cut and restore.

    Cut, it closes its listening socket and every relayed connection: connecting is refused,
    as from a closed port, and open connections are lost, as when the server goes away.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.postgresql
def test_postgresql_unreachable(
    postgres_url: str, pg_schema: str, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """With PostgreSQL refusing connections /metrics still 200, the store down; then back."""
    url = make_url(postgres_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    relay.open()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    try:
        for scheduler in started(clock, registry, relayed, tableschema=pg_schema):
            scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="report", id="r")
            assert up(registry) == 1
            relay.cut()
            status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
            assert status == "200 OK"
            assert b'job_id="r"' in body
            clock.advance(STALLED_READ + 1)
            assert eventually(lambda: up(registry) == 0)
            clock.advance(60)
            status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/healthz"))
            assert status == "503 Service Unavailable"
            assert b"job store 'default' has not answered" in body
            relay.open()
            assert eventually(lambda: up(registry) == 1)
            scheduler.tick()
            assert in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/healthz"))[0] == "200 OK"
    finally:
        relay.cut()
