"""Creating the SQLAlchemy engine, and running statements with bounded retries."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from obssched.exceptions import InvalidArgumentError

__all__ = [
    "RETRY_DELAYS",
    "ErrorCounter",
    "HeldConnection",
    "make_engine",
    "open_engine",
    "with_retries",
]

_T = TypeVar("_T")

RETRY_DELAYS = (0.05, 0.25, 1.0)
"""Waits between attempts of an operation that failed on a lost connection."""


def make_engine(
    url: str | URL,
    options: dict[str, Any],
    create: Callable[..., Engine] = create_engine,
) -> Engine:
    """Create an engine for ``url`` (text or a SQLAlchemy ``URL``) with ``create`` (SQLAlchemy's
    ``create_engine``); SQLite gets WAL mode and a busy timeout.

    WAL lets readers (``obssched jobs``) run beside the scheduler, and ``synchronous=NORMAL``
    under WAL still survives a killed process (only an OS crash can lose the last commits).
    """
    options = dict(options)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # sqlite://, sqlite:///:memory: and their driver-qualified forms (sqlite+pysqlite://).
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in str(parsed)
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30.0)
        # How long a statement waits for another connection's lock before failing (and being
        # retried): the driver's ``timeout``, so engine_options can shorten it.
        busy_millis = int(float(connect_args["timeout"]) * 1000)
        if in_memory:
            # One shared connection: each new connection to :memory: would be another database.
            options.setdefault("poolclass", StaticPool)
        engine = create(url, **options)

        @event.listens_for(engine, "connect")
        def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_millis}")
            cursor.close()

        return engine
    options.setdefault("pool_pre_ping", True)
    return create(url, **options)


def open_engine(
    url: str | URL | None,
    engine: Engine | str | None,
    options: dict[str, Any] | None,
    cluster: bool,
    create: Callable[..., Engine] = create_engine,
) -> tuple[Engine, bool]:
    """Return the store's engine and whether the store made it (and so disposes of it).

    ``engine`` may be a ``module:attribute`` reference, resolved as APScheduler's ``maybe_ref``
    does.

    Raises:
        ValueError: neither ``url`` nor ``engine`` is given, or ``cluster`` is asked of a
            database other than PostgreSQL.
        InvalidArgumentError: ``cluster`` is asked of PostgreSQL through a driver other than
            psycopg (3).
    """
    from obssched._refs import maybe_ref

    given: Engine | None = maybe_ref(engine)
    owned = given is None
    if given is None:
        if not url:
            raise ValueError('Need either "engine" or "url" defined')
        given = make_engine(url, options or {}, create)
    if cluster and given.dialect.name != "postgresql":
        raise ValueError(
            f"cluster=True needs PostgreSQL, not {given.dialect.name}: the cluster claims "
            "runs with SELECT ... FOR UPDATE SKIP LOCKED across hosts, which SQLite (a "
            "single-host, file-level-locking database) cannot do"
        )
    if cluster and given.dialect.driver != "psycopg":
        raise InvalidArgumentError(
            "url" if owned else "engine",
            given.dialect.driver,
            f"cluster=True needs the psycopg (3) driver, not {given.dialect.driver}: the "
            "cluster's run starts and ends are written with psycopg's own statement "
            "placeholders; use a postgresql+psycopg:// URL",
        )
    return given, owned


class ErrorCounter:
    """Counts database errors (``obssched_jobstore_errors_total``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        """Count one error."""
        with self._lock:
            self.count += 1


def with_retries(
    operation: Callable[[], _T],
    errors: ErrorCounter,
    logger: logging.Logger,
    wait: Callable[[float], Any],
    delays: tuple[float, ...] = RETRY_DELAYS,
) -> _T:
    """Run ``operation``; on a lost or refused connection wait and retry, up to ``delays``.

    Every failure is counted; the last one is raised. Errors that are not about the connection
    (a constraint, a bad statement) are counted and raised at once: retrying cannot fix them.
    """
    attempt = 0
    while True:
        try:
            return operation()
        except IntegrityError:
            raise  # a conflicting id is the caller's business, not a database failure
        except DBAPIError as exc:
            errors.add()
            transient = isinstance(exc, OperationalError) or exc.connection_invalidated
            if not transient or attempt >= len(delays):
                raise
            logger.warning("Database error (retrying in %.2fs): %s", delays[attempt], exc.orig)
            wait(delays[attempt])
            attempt += 1


class HeldConnection:
    """A connection kept open for a caller that writes one statement at a time, in autocommit.

    The statement then costs one round trip: what a pooled transaction adds around it is
    skipped (the pool's checkout and its liveness ping, ``BEGIN``, ``COMMIT``). A connection the
    database dropped is not pinged first: its statement fails instead, and the caller counts,
    logs and retries that like any transient error (:func:`with_retries`), on a new connection
    (any failure drops the connection held). The connection is detached from the engine's pool
    as soon as it is opened: kept, it would hold one of the pool's slots for good, and a small
    pool (a user's engine) would leave the claims waiting for a connection.

    Args:
        engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._raw: Any = None  # the DB-API connection of _conn, which this object closes
        self._closed = False

    def run(self, operation: Callable[[Connection], _T]) -> _T:
        """Run ``operation`` (one statement) on the held connection; return its result.

        Once :meth:`close` was called (the store shut down), on a connection of its own
        instead, closed at once: a write arriving late (a run ending after the shutdown) must
        not open a connection nothing would close. It is detached too: the shutdown disposed of
        the engine's pool, and a connection given back would stay open in the new one.
        """
        with self._lock:
            if self._closed:
                alone, raw = self._open()
                try:
                    result = operation(alone)
                    alone.commit()
                finally:
                    _close(alone, raw)
                return result
            conn = self._conn
            if conn is None or conn.invalidated or conn.closed:
                conn, self._raw = self._open()
                self._conn = conn
            try:
                result = operation(conn)
                # Ends SQLAlchemy's own transaction of the connection; in autocommit nothing is
                # sent to the database.
                conn.commit()
            except BaseException:
                self._drop()
                raise
            return result

    def close(self) -> None:
        """Close the connection held, for good: later writes each take a pooled one."""
        with self._lock:
            self._closed = True
            self._drop()

    def _open(self) -> tuple[Connection, Any]:
        """A new autocommit connection detached from the pool, with its DB-API connection."""
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        raw = conn.connection.dbapi_connection
        conn.detach()  # after the option is set: a detached record takes no reset
        return conn, raw

    def _drop(self) -> None:
        """Close the connection held, if any (the caller holds the lock)."""
        conn, raw = self._conn, self._raw
        self._conn = self._raw = None
        if conn is not None:
            _close(conn, raw)


def _close(conn: Connection, raw: Any) -> None:
    """Close a connection :meth:`HeldConnection._open` made. A detached connection SQLAlchemy
    invalidated (after a failure) is forgotten, not closed: its DB-API connection ``raw`` is
    closed here."""
    conn.close()
    if raw is not None:
        with contextlib.suppress(Exception):
            raw.close()
