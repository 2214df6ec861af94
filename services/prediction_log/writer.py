"""The prediction log's writer: records queued in memory, written by one background thread.

Serving appends to an in-memory queue (O(1), no I/O on the request path); the thread
writes batches in one transaction each and keeps them through database outages.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from services.prediction_log import reader, rows
from services.prediction_log.records import FeedbackRecord, PredictionRecord
from services.prediction_log.tables import open_engine, parse_url

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.05, 5.0
_WARN_EVERY_S = 60.0  # repeat the "database unavailable" warning at most this often


@dataclass(frozen=True)
class LogStats:
    """Counts since open: predictions and feedback committed, waiting, and given up."""

    written: int
    pending: int
    dropped: int
    failed_batches: int
    feedback_written: int


def _warn_duplicates(skipped: int) -> None:
    if skipped:
        log.warning("prediction log: skipped %d predictions whose request_id is stored", skipped)


_Item = tuple[int, PredictionRecord | FeedbackRecord]  # (sequence number, record)


class PredictionLog:
    """Predictions and feedback, queued in memory and written by one background thread.

    Records wait in a FIFO queue while the database is slow or down; beyond `max_pending`
    the oldest waiting record is dropped (a batch being written at that moment is kept).
    """

    def __init__(
        self,
        url: str,
        *,
        batch_rows: int = 500,
        flush_interval_s: float = 0.5,
        max_pending: int = 200_000,
    ) -> None:
        if batch_rows < 1 or max_pending < 1 or flush_interval_s < 0:
            raise ValueError("batch_rows and max_pending must be >= 1, flush_interval_s >= 0")
        parse_url(url)
        self.url = url
        self._batch_rows = min(batch_rows, max_pending)
        self._interval = flush_interval_s
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer waits here
        self._done = threading.Condition(self._lock)  # flush() waits here
        self._open_lock = threading.Lock()
        self._abort = threading.Event()
        self._queue: deque[_Item] = deque()
        self._inflight: deque[_Item] = deque()
        self._seq = 0
        self._flush_waiters = 0
        self._closed = self._writer_done = False
        self._engine: sa.Engine | None = None
        self._thread: threading.Thread | None = None
        self._written = self._feedback_written = self._dropped = self._failed = 0
        self._overflowed = self._overflow_logged = 0

    def __enter__(self) -> PredictionLog:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, create missing tables and start the writer; a second call does nothing."""
        with self._open_lock:
            if self._closed:
                raise RuntimeError("prediction log is closed; create a new one")
            if self._thread is not None:
                return
            self._engine = open_engine(self.url)
            thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
            with self._lock:
                self._thread = thread
            thread.start()

    def append(self, record: PredictionRecord) -> None:
        """Queue a prediction for writing; never waits for the database."""
        if not isinstance(record, PredictionRecord):
            raise TypeError(f"expected a PredictionRecord, got {type(record).__name__}")
        self._enqueue(record)

    def add_feedback(self, record: FeedbackRecord) -> None:
        """Queue a true outcome for writing; never waits for the database."""
        if not isinstance(record, FeedbackRecord):
            raise TypeError(f"expected a FeedbackRecord, got {type(record).__name__}")
        self._enqueue(record)

    def _enqueue(self, record: PredictionRecord | FeedbackRecord) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("prediction log is closed")
            if self._thread is None:
                raise RuntimeError("prediction log is not open; call open() first")
            self._seq += 1
            self._queue.append((self._seq, record))
            if len(self._queue) + len(self._inflight) > self._max_pending:
                self._queue.popleft()
                self._dropped += 1
                self._overflowed += 1
                self._done.notify_all()
            if len(self._queue) == 1 or len(self._queue) >= self._batch_rows:
                self._work.notify()

    def _oldest_pending(self) -> float:
        """Sequence number of the oldest record not yet written or dropped (lock held)."""
        if self._inflight:
            return self._inflight[0][0]
        return self._queue[0][0] if self._queue else math.inf

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every record appended before this call is committed (or dropped).

        Returns:
            False if that did not happen within `timeout` seconds (None waits for ever).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._seq
            if self._thread is None or self._writer_done:
                return self._oldest_pending() > target
            self._flush_waiters += 1
            self._work.notify()
            try:
                while self._oldest_pending() <= target:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if self._writer_done or (remaining is not None and remaining <= 0):
                        return False
                    self._done.wait(remaining)
                return True
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, stop the writer and release connections; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()
                with self._lock:
                    self._work.notify()
                thread.join(min(timeout, 1.0))
            with self._lock:
                lost = len(self._queue) + len(self._inflight)
                self._dropped += len(self._queue)
                self._queue.clear()
            if lost:
                log.error(
                    "prediction log closed with %d records not written: database "
                    "unavailable for %.1f s (%d failed batches)",
                    lost,
                    timeout,
                    self._failed,
                )
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def stats(self) -> LogStats:
        """Counters of this instance since open."""
        with self._lock:
            return LogStats(
                written=self._written,
                pending=len(self._queue) + len(self._inflight),
                dropped=self._dropped,
                failed_batches=self._failed,
                feedback_written=self._feedback_written,
            )

    # ------------------------------------------------------------------ writer

    def _run(self) -> None:
        backoff, failures, warned_at = 0.0, 0, -math.inf
        try:
            while (batch := self._take_batch()) is not None:
                self._report_overflow()
                try:
                    self._write(batch)
                except Exception as exc:
                    failures += 1
                    pending = self._requeue()
                    if failures == 1 or time.monotonic() - warned_at > _WARN_EVERY_S:
                        warned_at = time.monotonic()
                        log.warning(
                            "prediction log: database unavailable (%s); %d records kept, retrying",
                            exc,
                            pending,
                        )
                    backoff = min(_BACKOFF_MAX_S, max(_BACKOFF_MIN_S, backoff * 2))
                    if self._abort.wait(backoff):
                        return
                    continue
                if failures:
                    log.warning("prediction log: database back after %d failed batches", failures)
                    backoff, failures = 0.0, 0
        finally:
            with self._lock:
                self._writer_done = True
                self._done.notify_all()

    def _take_batch(self) -> list[PredictionRecord | FeedbackRecord] | None:
        """Move the next batch into flight: when full, when due, when flushed; None to stop."""
        with self._lock:
            while not self._queue and not self._closed:
                self._work.wait()
            if self._abort.is_set() or not self._queue:
                return None
            due = time.monotonic() + self._interval
            while len(self._queue) < self._batch_rows and not (self._closed or self._flush_waiters):
                remaining = due - time.monotonic()
                if remaining <= 0:
                    break
                self._work.wait(remaining)
            for _ in range(min(self._batch_rows, len(self._queue))):
                self._inflight.append(self._queue.popleft())
            return [record for _, record in self._inflight]

    def _write(self, batch: list[PredictionRecord | FeedbackRecord]) -> None:
        """Commit the batch in one transaction; row by row if some rows are rejected."""
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                written, fb_written = rows.insert(conn, batch)
            _warn_duplicates(len(batch) - written - fb_written)
        except Exception as exc:
            if not rows.is_data_error(exc):
                raise
            log.warning("prediction log: batch of %d rejected (%s); row by row", len(batch), exc)
            for record in batch:
                self._write_one(record)
            return
        self._resolve(len(batch), written, fb_written)

    def _write_one(self, record: PredictionRecord | FeedbackRecord) -> None:
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                written, fb_written = rows.insert(conn, [record])
            _warn_duplicates(1 - written - fb_written)
        except Exception as exc:
            if not rows.is_data_error(exc):
                raise
            log.error("prediction log: dropped %s: %s", rows.describe(record), exc)
            written = fb_written = 0
        self._resolve(1, written, fb_written)

    def _resolve(self, n: int, written: int, fb_written: int) -> None:
        """Account for the oldest `n` records in flight: written, or dropped as duplicate/bad."""
        with self._lock:
            for _ in range(n):
                self._inflight.popleft()
            self._written += written
            self._feedback_written += fb_written
            self._dropped += n - written - fb_written
            self._done.notify_all()

    def _requeue(self) -> int:
        """Put the failed batch back at the head of the queue; returns the pending count."""
        with self._lock:
            self._failed += 1
            self._queue.extendleft(reversed(self._inflight))
            self._inflight.clear()
            return len(self._queue)

    def _report_overflow(self) -> None:
        with self._lock:
            new, self._overflow_logged = self._overflowed - self._overflow_logged, self._overflowed
        if new:
            log.warning(
                "prediction log: queue full (max_pending=%d), dropped the %d oldest records",
                self._max_pending,
                new,
            )

    # ------------------------------------------------------------------ reading

    def _connection(self) -> sa.Connection:
        if self._engine is None:
            raise RuntimeError("prediction log is not open")
        return self._engine.connect()

    def count(self) -> int:
        """Number of predictions stored (by every writer of this database)."""
        with self._connection() as conn:
            return int(conn.execute(reader.count_query()).scalar_one())

    def read_predictions(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Predictions received in [start, end), oldest first, with their latest outcome.

        Each feature is a column of its own (a feature named like a record field is
        prefixed `feature.`); `outcome` (Int64) and `feedback_at` are missing until feedback
        arrives, matched by request id, else by delivery id.
        """
        query = reader.window_query(start, end, limit)
        with self._connection() as conn:
            found = conn.execute(query).mappings().all()
        return reader.to_frame(found)
