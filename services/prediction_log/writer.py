"""Prediction log: every answered request, both models' scores and true outcomes, in SQL.

Serving appends records to an in-memory queue (O(1), no I/O on the request path); one
background thread writes them in batches, keeping them through database outages. Monitoring
reads windows back as DataFrames. The traffic-policy history lives in the same database
(`PolicyStore`), so every replica and the CLI see one policy. SQLite by default (WAL, so a
reader and the writer coexist), PostgreSQL (`postgresql+psycopg://...`) in production.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.schema import CreateIndex, CreateTable

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_SQLITE_BUSY_TIMEOUT_MS = 5_000  # a writer or reader waits this long for a lock before failing
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.05, 5.0
_WARN_EVERY_S = 60.0  # repeat the "database unavailable" warning at most this often
_SCHEMA_LOCK = 0x6D6C6F7073  # PostgreSQL advisory lock serialising concurrent table creation


def default_url(root: Path) -> str:
    """SQLite URL of the project's log, `<root>/serving/predictions.db` (absolute)."""
    return f"sqlite:///{Path(root).resolve() / 'serving' / 'predictions.db'}"


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class PredictionRecord:
    """One answered request: the input row, who answered, and the shadow model's score if any."""

    request_id: str
    received_at: datetime
    delivery_id: str | None
    request_key: str | None
    features: dict[str, Any]
    mode: str
    variant: str
    model_version: str
    probability: float
    decision: bool
    threshold: float
    latency_ms: float
    shadow_version: str | None = None
    shadow_probability: float | None = None
    shadow_latency_ms: float | None = None
    shadow_error: str | None = None

    def __post_init__(self) -> None:
        _aware(self.received_at, "received_at")


@dataclass(frozen=True)
class FeedbackRecord:
    """A true outcome (1 = delayed), tied to a prediction by request id or delivery id."""

    outcome: int
    received_at: datetime
    request_id: str | None = None
    delivery_id: str | None = None

    def __post_init__(self) -> None:
        if self.request_id is None and self.delivery_id is None:
            raise ValueError("feedback needs a request_id or a delivery_id")
        if self.outcome not in (0, 1):
            raise ValueError(f"outcome must be 0 or 1, got {self.outcome!r}")
        _aware(self.received_at, "received_at")


@dataclass(frozen=True)
class LogStats:
    """Counts since open: predictions and feedback committed, waiting, and given up."""

    written: int
    pending: int
    dropped: int
    failed_batches: int
    feedback_written: int


@dataclass(frozen=True)
class PolicyChange:
    """One stored traffic policy: who set it, when and why."""

    id: int
    changed_at: datetime
    changed_by: str
    reason: str
    policy: dict[str, Any]


class _UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back UTC-aware on every backend (SQLite drops zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        _aware(value, "timestamp")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData()
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(), nullable=False, unique=True),
    sa.Column("received_at", _UTCDateTime(), nullable=False, index=True),
    sa.Column("delivery_id", sa.String(), index=True),
    sa.Column("request_key", sa.String()),
    sa.Column("features", _JSON, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("variant", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False),
    sa.Column("probability", sa.Double(), nullable=False),
    sa.Column("decision", sa.Boolean(), nullable=False),
    sa.Column("threshold", sa.Double(), nullable=False),
    sa.Column("latency_ms", sa.Double(), nullable=False),
    sa.Column("shadow_version", sa.String()),
    sa.Column("shadow_probability", sa.Double()),
    sa.Column("shadow_latency_ms", sa.Double()),
    sa.Column("shadow_error", sa.Text()),
)
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(), index=True),
    sa.Column("delivery_id", sa.String(), index=True),
    sa.Column("outcome", sa.SmallInteger(), nullable=False),
    sa.Column("received_at", _UTCDateTime(), nullable=False),
)
policy_changes = sa.Table(
    "policy_changes",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("changed_at", _UTCDateTime(), nullable=False),
    sa.Column("changed_by", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("policy", _JSON, nullable=False),
)


def _parse_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    ):
        raise ValueError(f"{url!r}: in-memory SQLite is private to one thread; use a file URL")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
    cursor.close()


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _connect(url: str) -> sa.Engine:
    """An engine for `url`; SQLite gets its directory, WAL and a busy timeout."""
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, json_serializer=_dumps)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    return sa.create_engine(
        parsed, json_serializer=_dumps, pool_pre_ping=True, connect_args=connect_args
    )


def _create_schema(engine: sa.Engine) -> None:
    """Create missing tables and indexes; safe when several processes do it at once."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # IF NOT EXISTS alone still races in the catalog
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy: non-finite floats become null, numpy scalars plain numbers."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if callable(getattr(value, "item", None)):  # numpy scalar
        return _jsonable(value.item())
    return str(value)


def _opt(cast: Any, value: Any) -> Any:
    return None if value is None else cast(value)


def _prediction_row(r: PredictionRecord) -> dict[str, Any]:
    return {
        "request_id": str(r.request_id),
        "received_at": r.received_at,
        "delivery_id": _opt(str, r.delivery_id),
        "request_key": _opt(str, r.request_key),
        "features": _jsonable(dict(r.features)),
        "mode": str(r.mode),
        "variant": str(r.variant),
        "model_version": str(r.model_version),
        "probability": float(r.probability),
        "decision": bool(r.decision),
        "threshold": float(r.threshold),
        "latency_ms": float(r.latency_ms),
        "shadow_version": _opt(str, r.shadow_version),
        "shadow_probability": _opt(float, r.shadow_probability),
        "shadow_latency_ms": _opt(float, r.shadow_latency_ms),
        "shadow_error": _opt(str, r.shadow_error),
    }


def _feedback_row(r: FeedbackRecord) -> dict[str, Any]:
    return {
        "request_id": _opt(str, r.request_id),
        "delivery_id": _opt(str, r.delivery_id),
        "outcome": int(r.outcome),
        "received_at": r.received_at,
    }


def _insert(
    conn: sa.Connection, records: Sequence[PredictionRecord | FeedbackRecord]
) -> tuple[int, int]:
    """Insert records in the open transaction; returns (predictions, feedback) written.

    A request id already stored (or twice in `records`) is skipped, not an error.
    """
    preds = [_prediction_row(r) for r in records if isinstance(r, PredictionRecord)]
    fbs = [_feedback_row(r) for r in records if isinstance(r, FeedbackRecord)]
    written = 0
    if preds:
        dialect = conn.dialect
        if dialect.name in ("postgresql", "sqlite"):
            insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
            stmt = insert(predictions).on_conflict_do_nothing(index_elements=["request_id"])
            if dialect.insert_executemany_returning:
                written = len(conn.execute(stmt.returning(predictions.c.id), preds).all())
            else:
                written = conn.execute(stmt, preds).rowcount
        else:
            written = conn.execute(predictions.insert(), preds).rowcount
    if fbs:
        conn.execute(feedback.insert(), fbs)
    return written, len(fbs)


def _is_data_error(exc: BaseException) -> bool:
    """True when rows themselves are at fault, so retrying them unchanged cannot help."""
    if isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        return False  # unreachable, locked, read-only, table missing: the database's state
    return isinstance(exc, sa.exc.StatementError) or not isinstance(exc, sa.exc.SQLAlchemyError)


def _warn_duplicates(skipped: int) -> None:
    if skipped:
        log.warning("prediction log: skipped %d predictions whose request_id is stored", skipped)


def _describe(record: PredictionRecord | FeedbackRecord) -> str:
    if isinstance(record, PredictionRecord):
        return f"prediction {record.request_id}"
    return f"feedback for request {record.request_id} / delivery {record.delivery_id}"


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
        _parse_url(url)
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
            engine = _connect(self.url)
            try:
                _create_schema(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
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
                written, fb_written = _insert(conn, batch)
            _warn_duplicates(len(batch) - written - fb_written)
        except Exception as exc:
            if not _is_data_error(exc):
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
                written, fb_written = _insert(conn, [record])
            _warn_duplicates(1 - written - fb_written)
        except Exception as exc:
            if not _is_data_error(exc):
                raise
            log.error("prediction log: dropped %s: %s", _describe(record), exc)
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
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar_one()
            )

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
        for bound, name in ((start, "start"), (end, "end")):
            if bound is not None:
                _aware(bound, name)
        with self._connection() as conn:
            rows = conn.execute(_window_query(start, end, limit)).mappings().all()
        return _frame(rows)


def _latest_feedback(column: sa.Column[Any], key: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(column)
        .where(feedback.c[key] == predictions.c[key])
        .order_by(feedback.c.received_at.desc(), feedback.c.id.desc())
        .limit(1)
        .correlate(predictions)
        .scalar_subquery()
    )


def _window_query(
    start: datetime | None, end: datetime | None, limit: int | None
) -> sa.Select[Any]:
    outcome = sa.func.coalesce(
        _latest_feedback(feedback.c.outcome, "request_id"),
        _latest_feedback(feedback.c.outcome, "delivery_id"),
        type_=sa.SmallInteger(),
    )
    feedback_at = sa.func.coalesce(
        _latest_feedback(feedback.c.received_at, "request_id"),
        _latest_feedback(feedback.c.received_at, "delivery_id"),
        type_=_UTCDateTime(),
    )
    columns = [c for c in predictions.c if c.name != "id"]
    query = sa.select(*columns, outcome.label("outcome"), feedback_at.label("feedback_at"))
    if start is not None:
        query = query.where(predictions.c.received_at >= start)
    if end is not None:
        query = query.where(predictions.c.received_at < end)
    query = query.order_by(predictions.c.received_at, predictions.c.id)
    return query if limit is None else query.limit(limit)


_DTYPES = {
    "probability": "float64",
    "decision": "bool",
    "threshold": "float64",
    "latency_ms": "float64",
    "shadow_probability": "float64",
    "shadow_latency_ms": "float64",
    "outcome": "Int64",
}


def _frame(rows: Sequence[sa.RowMapping]) -> pd.DataFrame:
    """One row per prediction: record fields, then features (sorted by name), then feedback."""
    import pandas as pd

    index = pd.RangeIndex(len(rows))

    def column(name: str) -> pd.Series:
        values = [row[name] for row in rows]
        if name in ("received_at", "feedback_at"):
            return pd.Series(pd.to_datetime(values, utc=True), index=index, name=name)
        return pd.Series(values, index=index, name=name, dtype=_DTYPES.get(name, "object"))

    data = {c.name: column(c.name) for c in predictions.c if c.name not in ("id", "features")}
    features = pd.DataFrame([row["features"] for row in rows], index=index)
    for name in sorted(features.columns):
        clash = name in data or name in ("outcome", "feedback_at")
        data[f"feature.{name}" if clash else name] = features[name]
    data["outcome"] = column("outcome")
    data["feedback_at"] = column("feedback_at")
    return pd.DataFrame(data, index=index)


class PolicyStore:
    """Append-only history of traffic policies; the latest row is the policy in force."""

    def __init__(self, url: str) -> None:
        _parse_url(url)
        self.url = url
        self._engine: sa.Engine | None = None

    def __enter__(self) -> PolicyStore:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect and create missing tables; a second call does nothing."""
        if self._engine is not None:
            return
        engine = _connect(self.url)
        try:
            _create_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    def _require(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("policy store is not open")
        return self._engine

    def current(self) -> PolicyChange | None:
        """The policy in force: the latest change, or None if none was ever recorded."""
        latest = self.history(limit=1)
        return latest[0] if latest else None

    def record(self, policy: dict[str, Any], changed_by: str, reason: str) -> PolicyChange:
        """Store a new policy as the latest change (one transaction) and return it."""
        stored = json.loads(_dumps(dict(policy)))  # fails here if not JSON; detaches the dict
        changed_at = datetime.now(UTC)
        insert = policy_changes.insert().values(
            changed_at=changed_at, changed_by=changed_by, reason=reason, policy=stored
        )
        with self._require().begin() as conn:
            key = conn.execute(insert).inserted_primary_key
        assert key is not None
        return PolicyChange(int(key[0]), changed_at, changed_by, reason, stored)

    def history(self, limit: int = 50) -> list[PolicyChange]:
        """Up to `limit` changes, newest first."""
        query = sa.select(policy_changes).order_by(policy_changes.c.id.desc()).limit(limit)
        with self._require().connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            PolicyChange(
                id=int(r["id"]),
                changed_at=r["changed_at"],
                changed_by=r["changed_by"],
                reason=r["reason"],
                policy=r["policy"],
            )
            for r in rows
        ]

    def close(self) -> None:
        """Release connections; idempotent."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
