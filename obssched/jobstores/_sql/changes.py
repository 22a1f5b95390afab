"""Changes made to a store from outside its scheduler, and waking that scheduler for them.

``obssched jobs`` changes rows while a scheduler serves the store from another process. Without
a signal the scheduler would see the change only at its next wakeup (up to its heartbeat
interval later). Each such change therefore writes a new token into the ``_meta`` row
``changes`` in the transaction that makes it, and on PostgreSQL also sends a ``NOTIFY`` on the
store's channel (:mod:`._sql.notify`), the one cluster nodes already listen on.

A scheduler's store watches for them with a :class:`ChangeWatcher`: on PostgreSQL (psycopg) it
listens for the notification; elsewhere (SQLite) it reads the token every half second, one
primary-key lookup, and wakes the loop through its context when the token changed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, insert, select, update

from obssched.jobstores._sql.notify import channel_name, notify
from obssched.jobstores._sql.schema import Tables

if TYPE_CHECKING:
    from obssched.jobstores._sql.access import StoreAccess

__all__ = [
    "ADMIN_PAYLOAD",
    "CHANGES_ROW",
    "POLL_INTERVAL",
    "ChangeWatcher",
    "mark_changed",
    "read_change_token",
    "watch_changes",
]

CHANGES_ROW = "changes"
"""The ``_meta`` row whose value changes with each change made from outside the scheduler."""

POLL_INTERVAL = 0.5
"""Seconds between two reads of the change token where there is no notification channel."""

ADMIN_PAYLOAD = "obssched-jobs"
"""The notification payload of a change made from outside the scheduler (never a node id)."""


def mark_changed(conn: Connection, tables: Tables) -> None:
    """Record, in ``conn``'s transaction, that the jobs changed from outside the scheduler.

    Raises:
        IntegrityError: another process wrote the first token meanwhile (retry the transaction).
    """
    meta = tables.meta
    token = uuid.uuid4().hex
    statement = update(meta).where(meta.c.name == CHANGES_ROW).values(value=token)
    if not conn.execute(statement).rowcount:
        conn.execute(insert(meta).values(name=CHANGES_ROW, value=token))
    if conn.dialect.name == "postgresql":
        jobs = tables.jobs
        notify(conn, channel_name(jobs.name, jobs.schema), ADMIN_PAYLOAD)


def read_change_token(conn: Connection, tables: Tables) -> str | None:
    """The current change token (``None`` before the first change from outside)."""
    meta = tables.meta
    value = conn.execute(select(meta.c.value).where(meta.c.name == CHANGES_ROW)).scalar()
    return None if value is None else str(value)


class ChangeWatcher:
    """Calls ``wake`` soon after the jobs change from outside the scheduler, in a thread.

    Args:
        engine: the store's engine.
        tables: the store's tables.
        wake: what to call for each change (the scheduler context's ``wakeup``).
        logger: the store's logger.
        listen: where notifications reach this process, a function running a listener until
            the event is set (PostgreSQL); ``None`` to read the change token every
            ``interval`` seconds instead.
        interval: the pause between two reads of the token.
    """

    def __init__(
        self,
        engine: Engine,
        tables: Tables,
        wake: Callable[[], None],
        logger: logging.Logger,
        listen: Callable[[threading.Event], None] | None = None,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self._engine = engine
        self._tables = tables
        self._wake = wake
        self._logger = logger
        self._listen = listen
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: str | None = None
        self._has_token = False
        self._failing = False

    def start(self) -> None:
        """Read the current token (changes before now were seen at start), then watch."""
        self._stop.clear()
        if self._listen is None:
            self.poll()
        target = self._run_listener if self._listen is not None else self._run_poller
        self._thread = threading.Thread(target=target, name="obssched-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def poll(self) -> bool:
        """Read the token once; wake the scheduler and return True if it changed since the last
        read. A failed read is logged once per outage and changes nothing."""
        try:
            with self._engine.connect() as conn:
                token = read_change_token(conn, self._tables)
        except Exception as exc:
            if not self._failing:
                self._failing = True
                self._logger.warning(
                    "Cannot read the job store's change token (changes made with 'obssched "
                    "jobs' are seen at the next wakeup until it can): %s",
                    exc,
                )
            return False
        if self._failing:
            self._failing = False
            self._logger.info("The job store's change token can be read again")
        previous, self._token = self._token, token
        seen_before, self._has_token = self._has_token, True
        if seen_before and token != previous:
            self._wake()
            return True
        return False

    def _run_poller(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()

    def _run_listener(self) -> None:
        assert self._listen is not None
        self._listen(self._stop)


def watch_changes(access: StoreAccess, engine: Engine) -> ChangeWatcher | None:
    """Start watching a store that a scheduler serves; ``None`` for a database no other process
    can open (in-memory SQLite), where nothing changes from outside."""
    from obssched.jobstores._sql.owner import can_be_shared

    if not can_be_shared(engine.url):
        return None
    listen: Callable[[threading.Event], None] | None = None
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        wake = access.context.wakeup

        def listen(stop: threading.Event) -> None:
            access.make_listener(lambda _payload: wake(), stop).run()

    watcher = ChangeWatcher(engine, access.tables, access.context.wakeup, access.logger, listen)
    watcher.start()
    return watcher
