"""A lean thread pool for job bodies.

``concurrent.futures.ThreadPoolExecutor`` creates a Future, a work item and a callback per task
and counts idle workers with a semaphore; at tens of thousands of runs per second that
bookkeeping costs more than a no-op job. Here every worker is started with the first submission
and pulls items straight from a ``SimpleQueue``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["WorkerPool"]

_STOP = object()


class WorkerPool:
    """``max_workers`` threads that call ``handler(item)`` for each submitted item."""

    def __init__(self, max_workers: int, handler: Callable[[Any], None], name_prefix: str) -> None:
        self._max_workers = max_workers
        self._handler = handler
        self._name_prefix = name_prefix
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shutdown = False

    @property
    def max_workers(self) -> int:
        """The number of worker threads."""
        return self._max_workers

    def submit(self, item: Any) -> None:
        """Queue ``item`` for a worker.

        Raises:
            RuntimeError: the pool has been shut down.
        """
        if self._shutdown:
            raise RuntimeError("cannot submit work to a pool that has been shut down")
        if not self._threads:
            self._start_workers()
        self._queue.put(item)

    def submit_many(self, items: list[Any]) -> None:
        """Queue several items at once (see :meth:`submit`)."""
        if self._shutdown:
            raise RuntimeError("cannot submit work to a pool that has been shut down")
        if not self._threads:
            self._start_workers()
        put = self._queue.put
        for item in items:
            put(item)

    def _start_workers(self) -> None:
        # Idle workers blocked on the queue cost nothing, so all start at once; that spares
        # each submission the idle-worker accounting a lazily growing pool needs.
        with self._lock:
            if self._threads or self._shutdown:
                return
            for index in range(self._max_workers):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name_prefix}_{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def shutdown(self, wait: bool) -> None:
        """Let the workers finish what is queued, then stop them; with ``wait``, join them."""
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(_STOP)
        if wait:
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join()

    def _work(self) -> None:
        queue = self._queue
        handler = self._handler
        while True:
            item = queue.get()
            if item is _STOP:
                return
            handler(item)
