"""A lean thread pool for job bodies.

``concurrent.futures.ThreadPoolExecutor`` creates a Future, a work item and a callback per task
and counts idle workers with a semaphore; at tens of thousands of runs per second that
bookkeeping costs more than a no-op job. Here every worker is started with the first submission
and takes items from one shared deque. An idle worker sleeps on a lock of its own, and the one
that went idle last is woken first: a scheduler running one job at a time keeps waking the same
thread, whose stack and data are still in the CPU's caches, instead of the one idle longest.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["WorkerPool"]

_STOP = object()
_EAGER_WAKEUPS = 2


class _Worker:
    __slots__ = ("wake", "woken")

    def __init__(self) -> None:
        # Held while the worker sleeps; whoever hands it work releases it.
        self.wake = threading.Lock()
        self.wake.acquire()
        # Set by the waker, cleared by the worker once it takes an item: it is on its way to
        # one of the queued items.
        self.woken = False


class WorkerPool:
    """``max_workers`` threads that call ``handler(*item)`` for each submitted item (a tuple)."""

    def __init__(self, max_workers: int, handler: Callable[..., None], name_prefix: str) -> None:
        self._max_workers = max_workers
        self._handler = handler
        self._name_prefix = name_prefix
        self._items: deque[Any] = deque()
        # Workers with nothing to do, most recently idle last. list.append and list.pop are
        # atomic, which is all the hand-over protocol in _work and _wake_one relies on.
        self._idle: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shutdown = False
        # Items taken by workers so far (updated without a lock: only compared for change).
        self._taken = 0
        self._taken_at_nudge = 0
        self._stalled_since: float | None = None
        self._workers: list[_Worker] = []
        # The workers woken and not yet on an item: the waker adds a worker before releasing
        # its lock, and the worker, the only one to see its own flag set, discards itself
        # (set.add and set.discard are atomic: no count to drift between threads).
        self._woken: set[_Worker] = set()

    @property
    def max_workers(self) -> int:
        """The number of worker threads."""
        return self._max_workers

    def submit(self, item: Any) -> None:
        """Queue ``item`` for a worker.

        Raises:
            RuntimeError: the pool has been shut down.
        """
        with self._lock:  # against a shutdown between the check and the append
            if self._shutdown:
                raise RuntimeError("cannot submit work to a pool that has been shut down")
            if not self._threads:
                self._start_workers()
            self._items.append(item)
        self._wake_one()

    def submit_many(self, items: list[Any]) -> None:
        """Queue several items at once (see :meth:`submit`).

        At most two idle workers are woken for them. Under the GIL more threads do not run
        fast jobs sooner, they only queue for it (and for every lock a job or listener takes);
        when the woken workers block instead, :meth:`nudge` wakes the rest.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit work to a pool that has been shut down")
            if not self._threads:
                self._start_workers()
            self._items.extend(items)
        for _ in range(min(len(items), len(self._idle), _EAGER_WAKEUPS)):
            self._wake_one()

    @property
    def backlog(self) -> bool:
        """Whether more items wait than there are woken workers on their way to them, while
        some worker is idle."""
        queued = len(self._items)
        if not queued or not self._idle:
            return False
        return queued > len(self._woken)

    def nudge(self, monotonic: Callable[[], float], patience: float) -> None:
        """Wake idle workers for the queued items if none was taken for ``patience`` seconds.

        Items that wait while nothing is taken mean the awake workers are all blocked in job
        bodies (sleeping, waiting for I/O), so more workers are needed; items being taken mean
        the awake ones keep up. ``monotonic`` reads the clock (only when items wait); the first
        nudge that finds a backlog only notes when it saw it.
        """
        if not self.backlog:
            self._stalled_since = None
            return
        now = monotonic()
        taken = self._taken
        if self._stalled_since is None or taken != self._taken_at_nudge:
            self._stalled_since = now
            self._taken_at_nudge = taken
        elif now - self._stalled_since >= patience:
            for _ in range(min(len(self._items), len(self._idle))):
                self._wake_one()
            self._stalled_since = None

    def _wake_one(self) -> None:
        try:
            worker = self._idle.pop()
        except IndexError:
            return  # every worker is busy and will look at the deque before sleeping
        worker.woken = True
        self._woken.add(worker)
        worker.wake.release()

    def _start_workers(self) -> None:
        # Idle workers cost nothing, so all start at once; that spares each submission the
        # idle-worker accounting a lazily growing pool needs. Called with the lock held.
        for index in range(self._max_workers):
            worker = _Worker()
            self._workers.append(worker)
            thread = threading.Thread(
                target=self._work,
                args=(worker,),
                name=f"{self._name_prefix}_{index}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def shutdown(self, wait: bool) -> None:
        """Let the workers finish what is queued, then stop them; with ``wait``, join them."""
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
            # One stop marker per worker, behind everything queued (nothing is queued after
            # them: submissions check for the shutdown under this lock): each worker leaves at
            # the first marker it takes, so the queued items all run first.
            self._items.extend(_STOP for _ in threads)
        for _ in threads:
            self._wake_one()
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    def _work(self, worker: _Worker) -> None:
        items = self._items
        idle = self._idle
        handler = self._handler
        woken = self._woken
        while True:
            try:
                item = items.popleft()
            except IndexError:
                if worker.woken:
                    worker.woken = False
                    woken.discard(worker)
                idle.append(worker)
                # An item queued after the popleft above and before the append found no idle
                # worker to wake: look again, and if so leave the idle list, unless a submitter
                # took this worker off it already (then its wake-up is on the way).
                if items:
                    try:
                        idle.remove(worker)
                    except ValueError:
                        worker.wake.acquire()
                    continue
                worker.wake.acquire()
                continue
            if worker.woken:
                worker.woken = False
                woken.discard(worker)
            if item is _STOP:
                return
            self._taken += 1
            handler(*item)
