"""A lean thread pool for job bodies.

``concurrent.futures.ThreadPoolExecutor`` creates a Future, a work item and a callback per task;
at tens of thousands of runs per second that bookkeeping costs more than a no-op job. Workers here
pull work items straight from a ``SimpleQueue`` and report through the executor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

__all__ = ["WorkerPool"]

_STOP = object()


class WorkerPool:
    """Up to ``max_workers`` threads that call ``handler(item)`` for each submitted item."""

    def __init__(self, max_workers: int, handler: Callable[[Any], None], name_prefix: str) -> None:
        self._max_workers = max_workers
        self._handler = handler
        self._name_prefix = name_prefix
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shutdown = False

    @property
    def max_workers(self) -> int:
        """The most threads this pool starts."""
        return self._max_workers

    def submit(self, item: Any) -> None:
        """Queue ``item`` for a worker, starting a new thread if none is idle.

        Raises:
            RuntimeError: the pool has been shut down.
        """
        if self._shutdown:
            raise RuntimeError("cannot submit work to a pool that has been shut down")
        self._queue.put(item)
        if self._idle.acquire(blocking=False):
            return
        if len(self._threads) < self._max_workers:
            with self._lock:
                if len(self._threads) < self._max_workers and not self._shutdown:
                    thread = threading.Thread(
                        target=self._work,
                        name=f"{self._name_prefix}_{len(self._threads)}",
                        daemon=True,
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
        idle = self._idle
        while True:
            item = queue.get()
            if item is _STOP:
                return
            handler(item)
            idle.release()
