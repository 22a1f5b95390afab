"""Job bodies for the in-process cluster tests (stored by reference: in a module of their own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

PROBE: dict[str, Any] = {}
"""What :func:`read_start_mark` reads: the store (``store``) and where it appends (``seen``)."""


def read_start_mark() -> None:
    """Append the ``started_through`` of every ``_running`` row, as the body sees them."""
    store = PROBE["store"]
    running = store.tables.running
    with store.engine.connect() as conn:
        PROBE["seen"].extend(conn.execute(select(running.c.started_through)).scalars())
