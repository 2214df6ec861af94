"""A small bounded pool for shadow scoring: work that must never delay an answer.

Jobs wait in a bounded queue; when it is full, the job is shed at once (the
caller is told and counts it) rather than queued behind the response.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued job has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the threads."""
        threads, self._threads = self._threads, []
        for _ in threads:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:  # a job is stuck; the daemon threads end with the process
                log.error("shadow pool did not drain within %s s", timeout)
                return
        for thread in threads:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                job()
            except Exception:  # a shadow job must never take its worker down
                log.exception("shadow job failed")
            finally:
                self._queue.task_done()
