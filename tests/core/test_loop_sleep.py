"""How the scheduling loop of the thread-based schedulers sleeps between ticks."""

from __future__ import annotations

import threading

import pytest

from obssched.schedulers.background import BackgroundScheduler


class _TicksUntilRung(BackgroundScheduler):
    """A scheduler whose ticks ask, as APScheduler 3's may, to sleep until rung (``None``)."""

    def __init__(self) -> None:
        super().__init__(metrics=False, tracing=False)
        self.ticks = 0
        self.ticked = threading.Semaphore(0)

    def _process_jobs(self) -> float | None:  # type: ignore[override]
        self.ticks += 1
        self.ticked.release()
        return None


@pytest.mark.realtime
def test_a_tick_that_returns_none_sleeps_until_the_next_wakeup() -> None:
    """A tick returning ``None`` makes the loop sleep until woken, then tick again."""
    scheduler = _TicksUntilRung()
    scheduler.start()
    try:
        assert scheduler.ticked.acquire(timeout=10)
        scheduler.wakeup()
        assert scheduler.ticked.acquire(timeout=10)
        assert scheduler._thread is not None
        assert scheduler._thread.is_alive()
    finally:
        scheduler.shutdown(wait=False)
    assert scheduler.ticks >= 2
