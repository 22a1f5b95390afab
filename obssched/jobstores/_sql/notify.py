"""PostgreSQL ``LISTEN/NOTIFY``: a change on one node wakes the others at once.

Cluster nodes notify each other of their changes; ``obssched jobs`` notifies on the same channel
(:mod:`._sql.changes`), which a store served alone listens on too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

if TYPE_CHECKING:
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

__all__ = ["Listener", "channel_name", "notify"]


def channel_name(tablename: str, schema: str | None) -> str:
    """The notification channel of a jobs table (an identifier of at most 63 characters)."""
    raw = f"obssched_{schema + '_' if schema else ''}{tablename}"
    return re.sub(r"[^a-z0-9_]", "_", raw.lower())[:63]


def notify(conn: Connection, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when ``conn``'s transaction commits."""
    conn.execute(select(func.pg_notify(channel, payload)))


class Listener:
    """Listens on the store's channel in a thread of its own and calls back per notification.

    It keeps a dedicated autocommit psycopg connection; when the connection is lost it counts
    the error and reconnects after a pause, so an outage costs wakeups, never correctness (the
    nodes still wake at their own next run times).
    """

    def __init__(
        self,
        store: SQLAlchemyJobStore,
        callback: Callable[[str], None],
        stop: threading.Event,
        reconnect_delay: float = 1.0,
    ) -> None:
        table = store.tables.jobs
        self.channel = channel_name(table.name, table.schema)
        self._store = store
        self._callback = callback
        self._stop = stop
        self._reconnect_delay = reconnect_delay

    def run(self) -> None:
        """Listen until the stop event is set."""
        import psycopg
        from psycopg import sql

        url = self._store.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    while not self._stop.is_set():
                        for notification in conn.notifies(timeout=0.5):
                            self._callback(notification.payload)
            except psycopg.Error as exc:
                self._store._errors.add()
                self._store._logger.warning("Lost the notification connection: %s", exc)
                self._stop.wait(self._reconnect_delay)
