"""Scoring: probability and decision, with the threshold chosen at evaluation."""

from __future__ import annotations

import pandas as pd

from pipelines.model import DelayModel


def score(model: DelayModel, features: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Delay probability and the warning decision (probability >= threshold) per row."""
    proba = model.predict_proba(features)
    return pd.DataFrame(
        {"delay_probability": proba, "delayed_predicted": (proba >= threshold).astype("int8")},
        index=features.index,
    )
