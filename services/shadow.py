"""A small bounded pool for shadow scoring: work that must never delay an answer.

Jobs wait in a bounded queue; when it is full, the job is shed at once (the
caller is told and counts it) rather than queued behind the response.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Job = Callable[[], None]


class ShadowPool:
    """`workers` daemon threads draining a queue of at most `capacity` jobs."""

    def __init__(self, capacity: int, workers: int = 1) -> None:
        """Nothing runs until `start`."""
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=capacity)
        self._workers = workers
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"shadow-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: Job) -> bool:
        """Queue a job; False (and nothing queued) when the pool is full or stopped."""
        if not self._threads:
            return False
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        return True

    @property
    def pending(self) -> int:
        """Jobs waiting."""
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the threads."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a shadow job must never take its worker down
                log.exception("shadow job failed")
