"""Without a database: how run start marks and ended runs' deletes share commits, and that
every caller is released and every delete written whatever happens to the write."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from sqlalchemy import MetaData

from obssched.jobstores._sql.schema import define_tables
from obssched.jobstores._sql.starts import StartMarks

from .doubles import HeldRows

WAIT = 30  # seconds: only a hang ever waits this long


class GatedAccess:
    """Stands in for the store's access: each write announces itself on ``entered``, waits for
    a release on ``gate`` (or runs at once if ``open``), then records what it was handed; the
    writes listed in ``raise_on`` raise instead."""

    def __init__(self, *, open_gate: bool = False) -> None:
        self.tables = define_tables(MetaData(), "obssched_jobs", None)
        self.node_id = "here"
        self.logger = logging.getLogger("obssched.test")
        self.open = open_gate
        self.gate = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)
        self.raise_on: dict[int, BaseException] = {}
        self.writes = 0
        self.marked: list[str] = []
        self.deleted: list[str] = []

    def write_alone(self, operation: Any) -> Any:
        """Run ``operation`` on a connection that records the statement's parameters."""
        self.entered.release()
        if not self.open:
            assert self.gate.acquire(timeout=WAIT)
        self.writes += 1
        error = self.raise_on.get(self.writes)
        if error is not None:
            raise error
        access = self

        class Connection:
            def exec_driver_sql(self, statement: str, parameters: dict[str, Any]) -> Any:
                access.marked.extend(parameters["keys"])
                access.deleted.extend(parameters["ended"])
                return HeldRows(parameters["keys"])

        return operation(Connection())


def started(target: Any, *args: Any) -> threading.Thread:
    """A started thread running ``target(*args)``."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_an_interrupted_write_leaves_no_later_mark_waiting_forever() -> None:
    """A KeyboardInterrupt out of a write reaches its caller, and the next mark still writes."""
    access = GatedAccess(open_gate=True)
    access.raise_on[1] = KeyboardInterrupt()
    marks = StartMarks(access)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        marks.end(["k"])
    later = started(marks.mark, "r", 1)
    later.join(WAIT)
    assert not later.is_alive()
    assert access.marked == ["r"]
    assert access.deleted == ["k"]


def test_an_end_arriving_during_the_writers_last_round_is_written_before_it_returns() -> None:
    """The writer keeps writing past its rounds while deletes arrive, so none is left behind."""
    access = GatedAccess()
    marks = StartMarks(access)  # type: ignore[arg-type]
    writer = started(marks.mark, "a", 1)
    for round_number in range(1, StartMarks.ROUNDS + 1):
        assert access.entered.acquire(timeout=WAIT)  # the writer is inside this round's write
        marks.end([f"e{round_number}"])  # returns at once: the writer writes it next
        access.gate.release()
    assert access.entered.acquire(timeout=WAIT)
    access.gate.release()
    writer.join(WAIT)
    assert not writer.is_alive()
    assert access.deleted == [f"e{n}" for n in range(1, StartMarks.ROUNDS + 1)]
    assert access.writes == StartMarks.ROUNDS + 1


def test_a_failed_write_keeps_its_deletes_and_releases_its_marks() -> None:
    """A failed batch's mark callers return, and its deletes go out with the next write."""
    access = GatedAccess(open_gate=True)
    access.raise_on[1] = RuntimeError("database gone")
    marks = StartMarks(access)  # type: ignore[arg-type]
    marks.end(["e"])
    marks.mark("m", 1)
    assert access.deleted == ["e"]
    assert access.marked == ["m"]


def test_sync_writes_the_deletes_a_failed_write_kept() -> None:
    """With no writer left, sync writes the queued deletes itself before it returns."""
    access = GatedAccess(open_gate=True)
    access.raise_on[1] = RuntimeError("database gone")
    marks = StartMarks(access)  # type: ignore[arg-type]
    marks.end(["e"])
    assert access.deleted == []
    marks.sync()
    assert access.deleted == ["e"]
    marks.sync()
    assert access.writes == 2
