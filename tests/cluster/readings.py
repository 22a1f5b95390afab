"""What the in-process cluster tests read of a store: its ``_running`` rows and its local queue."""

from __future__ import annotations

from sqlalchemy import func, select

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore


def running_rows(store: SQLAlchemyJobStore) -> int:
    """How many ``_running`` rows there are."""
    with store.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(store.tables.running)).scalar_one()
        )


def queued(store: SQLAlchemyJobStore) -> int:
    """The node's local queue: runs claimed and not begun."""
    node = store._node
    assert node is not None
    return node.claims.queued
