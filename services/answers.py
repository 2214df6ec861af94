"""One answered row: what the API returns (Answer) and what the prediction log keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipelines.schema import Schema
from services.policy import Mode, Variant
from services.prediction_log.records import PredictionRecord


@dataclass(frozen=True)
class Answer:
    """One row's answer, before it is turned into the API's response model."""

    request_id: str
    delivery_id: str | None
    probability: float
    decision: bool
    threshold: float
    model_version: str
    variant: Variant
    reasons: list[tuple[str, float]] | None


def prediction_record(
    schema: Schema,
    mode: Mode,
    row: Mapping[str, Any],
    answer: Answer,
    received: datetime,
    latency_ms: float,
) -> PredictionRecord:
    """The log record of an answered row: its features (ids apart), who answered and how."""
    key = row.get(schema.key_column) if schema.key_column else None
    features = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in row.items()
        if k not in (schema.id_column, schema.key_column)
    }
    return PredictionRecord(
        request_id=answer.request_id,
        received_at=received,
        delivery_id=answer.delivery_id,
        request_key=key,
        features=features,
        mode=mode,
        variant=answer.variant,
        model_version=answer.model_version,
        probability=answer.probability,
        decision=answer.decision,
        threshold=answer.threshold,
        latency_ms=latency_ms,
    )
