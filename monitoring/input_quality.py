"""What a window's inputs hold beyond their distributions: nulls and unlisted categories.

`null_drift` compares each feature's share of nulls in the window with its
share in the drift reference (the training rows kept with the model), with a
two-proportion z-test (drift when p < 0.05, Evidently's threshold for that
test): a source that starts sending fewer values shows here even when the
values it still sends look the same. `unknown_categories` counts, per open
category, the window's rows whose value params.yaml does not list (the model
scored them as the `__other__` bucket).
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from monitoring.summary import NullShare, UnknownValues
from monitoring.window import log_column
from pipelines.features import category_text
from pipelines.schema import Schema

NULL_TEST, NULL_THRESHOLD = "Z-test p_value", 0.05
EXAMPLES = 5
"""Unlisted values quoted per column, commonest first."""


def two_proportion_p(share: float, rows: int, reference_share: float, reference_rows: int) -> float:
    """Two-sided p-value that two shares come from the same proportion (1.0 when undecidable)."""
    if rows == 0 or reference_rows == 0:
        return 1.0
    pooled = (share * rows + reference_share * reference_rows) / (rows + reference_rows)
    if pooled <= 0 or pooled >= 1:
        return 1.0
    spread = math.sqrt(pooled * (1 - pooled) * (1 / rows + 1 / reference_rows))
    return float(2 * stats.norm.sf(abs(share - reference_share) / spread))


def null_drift(
    reference: pd.DataFrame, current: pd.DataFrame, schema: Schema
) -> dict[str, NullShare]:
    """Per compared feature: its null share in the window and the reference, and the test.

    Args:
        reference: The drift reference (featurised training rows; nulls are NaN).
        current: The window's features (`window.current_frame`; nulls are NaN).
        schema: The compared schema.

    Returns:
        Feature -> `NullShare`, in the schema's feature order.
    """
    out: dict[str, NullShare] = {}
    for name in schema.feature_names:
        if name not in reference.columns or name not in current.columns:
            continue
        share = float(current[name].isna().mean()) if len(current) else 0.0
        ref_share = float(reference[name].isna().mean()) if len(reference) else 0.0
        p = two_proportion_p(share, len(current), ref_share, len(reference))
        out[name] = NullShare(
            share=round(share, 6),
            reference_share=round(ref_share, 6),
            method=NULL_TEST,
            score=p,
            threshold=NULL_THRESHOLD,
            drifted=p < NULL_THRESHOLD,
        )
    return out


def unknown_categories(log_rows: pd.DataFrame, schema: Schema) -> dict[str, UnknownValues]:
    """Per open category in the log: the window's rows with an unlisted value, and examples.

    Args:
        log_rows: The window, as `PredictionLog.read_predictions` returns it.
        schema: The compared schema.

    Returns:
        Column -> `UnknownValues` (every open category, zero counts included).
    """
    out: dict[str, UnknownValues] = {}
    total = len(log_rows)
    for cat in schema.categorical:
        found = log_column(log_rows, cat.name)
        if not cat.open or found is None:
            continue
        text = category_text(log_rows[found])
        unlisted = text[text.notna() & ~text.isin(cat.categories)]
        examples = [str(v) for v in unlisted.value_counts().index[:EXAMPLES]]
        share = len(unlisted) / total if total else 0.0
        out[cat.name] = UnknownValues(rows=len(unlisted), share=round(share, 6), examples=examples)
    return out
