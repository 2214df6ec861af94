"""Prediction-log windows and drift references built from tiny delivery batches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import featurize
from pipelines.schema import Schema

SHIFTED = ("precip_mm", "distance_km", "depot_load", "weather", "carrier")  # 5 of 14 features


def reference(raw: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """A drift reference like flows.adapters.tracking.reference_sample: features and scores."""
    return featurize(raw, schema).assign(delay_probability=raw["true_delay_prob"].to_numpy())


def shifted(raw: pd.DataFrame) -> pd.DataFrame:
    """The batch after a wet, congested week: the `SHIFTED` features move, scores rise."""
    out = raw.copy()
    out["precip_mm"] = raw["precip_mm"] * 3
    out["distance_km"] = raw["distance_km"] * 2
    out["depot_load"] = raw["depot_load"] + 0.6
    out["weather"] = "snow"
    out["carrier"] = "cityhop"
    out["true_delay_prob"] = np.clip(out["precip_mm"] / 25, 0.01, 0.99)
    return out


def log_rows(
    raw: pd.DataFrame,
    schema: Schema,
    *,
    variant: str = "champion",
    model_version: str = "3",
    threshold: float = 0.5,
    labelled_every: int = 1,
) -> pd.DataFrame:
    """A window as PredictionLog.read_predictions returns it, scored by the oracle.

    Every `labelled_every`-th row has its outcome; times are ISO strings with an offset.
    """
    n = len(raw)
    index = pd.RangeIndex(n)
    probability = raw["true_delay_prob"].to_numpy(dtype="float64")
    outcome = pd.array(raw["delayed"].to_numpy(), dtype="Int64")
    outcome[np.arange(n) % labelled_every != 0] = pd.NA
    received = pd.Timestamp("2026-11-25T21:15:00Z") + pd.to_timedelta(np.arange(n), unit="s")
    frame = pd.DataFrame(
        {
            "request_id": [f"req-{i}" for i in range(n)],
            "received_at": received,
            "delivery_id": raw["delivery_id"].to_numpy(),
            "request_key": raw["customer_id"].to_numpy(),
            "mode": "single",
            "variant": variant,
            "model_version": model_version,
            "probability": probability,
            "decision": probability >= threshold,
            "threshold": threshold,
            "latency_ms": 2.0,
            "shadow_version": None,
            "shadow_probability": np.nan,
            "shadow_latency_ms": np.nan,
            "shadow_error": None,
        },
        index=index,
    )
    times = pd.to_datetime(raw[schema.time_column]).dt.tz_localize("UTC")
    for column in schema.input_columns:
        if column == schema.time_column:
            frame[column] = [t.isoformat() for t in times]
        else:
            frame[column] = raw[column].to_numpy()
    frame["outcome"] = outcome
    frame["feedback_at"] = pd.NaT
    return frame


def empty_log() -> pd.DataFrame:
    """What read_predictions returns for a window without predictions: no feature columns."""
    columns = [
        "request_id",
        "received_at",
        "delivery_id",
        "request_key",
        "mode",
        "variant",
        "model_version",
        "probability",
        "decision",
        "threshold",
        "latency_ms",
        "shadow_version",
        "shadow_probability",
        "shadow_latency_ms",
        "shadow_error",
        "outcome",
        "feedback_at",
    ]
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})
