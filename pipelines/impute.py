"""Values for nulls, for the models that cannot take them (the logistic regression).

LightGBM reads NaN as missing and the rule baseline never fires on it, so the
encoder's matrix keeps nulls as NaN. The fill values are learned once on the
train split by each column's policy (params.yaml `nulls.impute`), stored in the
`FeatureEncoder`, and applied by `FillNulls`, the first step of the logistic
regression's pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from pipelines.features import FeatureEncoder
from pipelines.schema import Schema


def _policy(schema: Schema, name: str) -> str:
    policies = {c.name: c.nulls for c in schema.numeric}
    policies.update({c.name: c.nulls for c in schema.categorical})
    policy = policies.get(name)
    if policy is not None:
        return policy.impute
    return "most_frequent" if name in schema.categorical_names else "median"


def _fill(values: np.ndarray, policy: str, other_code: float) -> float:
    present = values[~np.isnan(values)]
    if policy == "zero":
        return 0.0
    if policy == "other":
        return other_code
    if not len(present):
        return 0.0
    if policy == "mean":
        return float(present.mean())
    if policy == "most_frequent":
        codes, counts = np.unique(present, return_counts=True)
        return float(codes[np.argmax(counts)])
    return float(np.median(present))


def learn_fill_values(
    matrix: np.ndarray, encoder: FeatureEncoder, schema: Schema
) -> FeatureEncoder:
    """The encoder with a fill value per matrix column, learned from `matrix` (the train split)."""
    fills = []
    for i, name in enumerate(encoder.feature_names):
        j = i - len(encoder.numeric)
        other = float(len(encoder.categories[j]) - 1) if j >= 0 else 0.0
        fills.append(_fill(matrix[:, i], _policy(schema, name), other))
    return replace(encoder, fill_values=tuple(fills))


class FillNulls(BaseEstimator, TransformerMixin):
    """Replaces NaN in column i by `values[i]` (a scikit-learn step; nothing to fit)."""

    def __init__(self, values: tuple[float, ...] = ()) -> None:
        """Keep the fill values (one per matrix column)."""
        self.values = values

    def fit(self, matrix: Any, y: Any = None) -> FillNulls:
        """Nothing to learn: the values come from the encoder."""
        return self

    def transform(self, matrix: Any) -> np.ndarray:
        """A copy of `matrix` without NaN where a fill value is known."""
        out = np.array(matrix, dtype="float64")
        if self.values:
            fill = np.broadcast_to(np.asarray(self.values, dtype="float64"), out.shape)
            missing = np.isnan(out)
            out[missing] = fill[missing]
        return out
