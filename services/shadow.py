"""Shadow scoring: the challenger scores the champion's rows off the response path.

Jobs wait in a small bounded pool; when it is full, the job is shed at once (counted
and logged as such) rather than queued behind the response. Every shadowed row is
logged once, with the challenger's score, its error, or `shed`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from services.metrics import ServingMetrics
from services.prediction_log.records import PredictionRecord
from services.prediction_log.writer import PredictionLog
from services.served_model import ServedModel

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


class ShadowScorer:
    """Scores rows with the challenger in a ShadowPool and logs them with both scores."""

    def __init__(
        self, capacity: int, metrics: ServingMetrics, prediction_log: PredictionLog
    ) -> None:
        """Nothing runs until `start`; at most `capacity` jobs wait."""
        self.pool = ShadowPool(capacity)
        self.metrics = metrics
        self.log = prediction_log

    def submit(
        self,
        version: str,
        served: ServedModel,
        rows: Sequence[Mapping[str, Any]],
        records: list[PredictionRecord],
    ) -> None:
        """Queue the rows for `served` (registry `version`); if the pool is full, log them shed."""
        if not self.pool.submit(lambda: self._score(version, served, rows, records)):
            self.metrics.shadow.labels(version, "shed").inc(len(rows))
            for record in records:
                self.log.append(with_shadow(record, version, error="shed"))

    def _score(
        self,
        version: str,
        served: ServedModel,
        rows: Sequence[Mapping[str, Any]],
        records: list[PredictionRecord],
    ) -> None:
        m = self.metrics
        t0 = time.perf_counter()
        try:
            proba = served.predict(served.encode(rows))
        except Exception as exc:
            m.shadow.labels(version, "error").inc(len(rows))
            for record in records:
                self.log.append(with_shadow(record, version, error=f"{type(exc).__name__}: {exc}"))
            return
        ms = (time.perf_counter() - t0) * 1000
        m.shadow_latency.labels(version).observe(ms / 1000)
        m.shadow.labels(version, "ok").inc(len(rows))
        diff = m.shadow_difference.labels(version)
        disagreements = 0
        for p, record in zip(proba, records, strict=True):
            p = float(p)
            diff.observe(abs(p - record.probability))
            disagreements += (p >= served.threshold) != record.decision
            self.log.append(with_shadow(record, version, probability=p, latency_ms=ms))
        if disagreements:
            m.shadow_disagreements.labels(version).inc(disagreements)


def with_shadow(
    record: PredictionRecord,
    version: str,
    probability: float | None = None,
    latency_ms: float | None = None,
    error: str | None = None,
) -> PredictionRecord:
    """The champion's record with the challenger's score (or why there is none)."""
    return replace(
        record,
        shadow_version=version,
        shadow_probability=probability,
        shadow_latency_ms=latency_ms,
        shadow_error=error,
    )
