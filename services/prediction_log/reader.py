"""Reading the log back: a window of predictions joined to their latest outcome, as a frame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from services.prediction_log.records import require_aware
from services.prediction_log.tables import UTCDateTime, feedback, predictions

if TYPE_CHECKING:
    import pandas as pd


def count_query() -> sa.Select[Any]:
    """The count of predictions stored (by every writer of this database)."""
    return sa.select(sa.func.count()).select_from(predictions)


def _latest_feedback(column: sa.Column[Any], key: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(column)
        .where(feedback.c[key] == predictions.c[key])
        .order_by(feedback.c.received_at.desc(), feedback.c.id.desc())
        .limit(1)
        .correlate(predictions)
        .scalar_subquery()
    )


def window_query(start: datetime | None, end: datetime | None, limit: int | None) -> sa.Select[Any]:
    """Predictions in [start, end), oldest first, with their latest outcome.

    `outcome` and `feedback_at` come from the latest feedback matched by request id,
    else by delivery id. ValueError when a bound is naive.
    """
    for bound, name in ((start, "start"), (end, "end")):
        if bound is not None:
            require_aware(bound, name)
    outcome = sa.func.coalesce(
        _latest_feedback(feedback.c.outcome, "request_id"),
        _latest_feedback(feedback.c.outcome, "delivery_id"),
        type_=sa.SmallInteger(),
    )
    feedback_at = sa.func.coalesce(
        _latest_feedback(feedback.c.received_at, "request_id"),
        _latest_feedback(feedback.c.received_at, "delivery_id"),
        type_=UTCDateTime(),
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


def to_frame(rows: Sequence[sa.RowMapping]) -> pd.DataFrame:
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
