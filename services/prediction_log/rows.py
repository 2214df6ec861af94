"""Records as table rows: JSON-safe values, and the batch INSERT the writer commits."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.prediction_log.records import FeedbackRecord, PredictionRecord
from services.prediction_log.tables import feedback, predictions

Record = PredictionRecord | FeedbackRecord


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


def insert(conn: sa.Connection, records: Sequence[Record]) -> tuple[int, int]:
    """Insert records in the open transaction; returns (predictions, feedback) written.

    A request id already stored (or twice in `records`) is skipped, not an error.
    """
    preds = [_prediction_row(r) for r in records if isinstance(r, PredictionRecord)]
    fbs = [_feedback_row(r) for r in records if isinstance(r, FeedbackRecord)]
    written = 0
    if preds:
        dialect = conn.dialect
        if dialect.name in ("postgresql", "sqlite"):
            upsert = pg_insert if dialect.name == "postgresql" else sqlite_insert
            stmt = upsert(predictions).on_conflict_do_nothing(index_elements=["request_id"])
            if dialect.insert_executemany_returning:
                written = len(conn.execute(stmt.returning(predictions.c.id), preds).all())
            else:
                written = conn.execute(stmt, preds).rowcount
        else:
            written = conn.execute(predictions.insert(), preds).rowcount
    if fbs:
        conn.execute(feedback.insert(), fbs)
    return written, len(fbs)


def is_data_error(exc: BaseException) -> bool:
    """True when rows themselves are at fault, so retrying them unchanged cannot help."""
    if isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        return False  # unreachable, locked, read-only, table missing: the database's state
    return isinstance(exc, sa.exc.StatementError) or not isinstance(exc, sa.exc.SQLAlchemyError)


def describe(record: Record) -> str:
    """The record as a log message names it."""
    if isinstance(record, PredictionRecord):
        return f"prediction {record.request_id}"
    return f"feedback for request {record.request_id} / delivery {record.delivery_id}"
