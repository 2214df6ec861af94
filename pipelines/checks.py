"""Data checks beyond the column schema, run with the validation suite on a training batch.

Each check names the column at fault and how to fix it:

- the batch holds exactly the configured columns (an extra one is named: list it in
  `data.ignore_columns` or as a feature);
- no feature is constant or nearly so (`validate.near_constant.max_top_share`);
- no feature separates the target almost perfectly on its own (`validate.leakage.max_auc`):
  its values, or whether it is null (a column filled in only after the outcome), scored
  by single-feature ROC AUC.

Plain pandas and numpy; the suite's GX checks are in `pipelines.validate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipelines.config import ValidateParams
from pipelines.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = "check_columns_match_schema"
CONSTANT = "check_feature_not_constant"
LEAKAGE = "check_feature_not_leaking_target"
CHECKS = (COLUMNS, CONSTANT, LEAKAGE)
"""The checks' names, as a `Failure.expectation` reports them."""
SMOOTHING = 20.0
"""Pseudo-rows at the overall rate when a category's own target rate scores its rows."""


def extra_columns(frame: pd.DataFrame, schema: Schema) -> list[str]:
    """Columns of `frame` the configuration does not name, in frame order."""
    allowed = set(schema.allowed_columns)
    return [str(c) for c in frame.columns if c not in allowed]


def top_share(values: pd.Series) -> float:
    """Share of the non-null values taken by the commonest one (1.0 when all are null)."""
    present = values.dropna()
    if present.empty:
        return 1.0
    return float(present.value_counts(normalize=True, dropna=True).iloc[0])


def auc(score: np.ndarray, target: np.ndarray) -> float:
    """ROC AUC of `score` for the 0/1 `target`, ties counted half (0.5 without both classes)."""
    from scipy.stats import rankdata

    positives = int(target.sum())
    negatives = len(target) - positives
    if not positives or not negatives:
        return 0.5
    ranks = rankdata(score)
    return float(
        (ranks[target == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def separation(values: pd.Series, target: np.ndarray, categorical: bool) -> tuple[float, str]:
    """How well one feature alone separates the target: (AUC in 0.5-1, what separates).

    Numbers score by value, categories by their (smoothed) target rate; both on
    the non-null rows. Whether the value is null scores too.
    """
    import pandas as pd

    missing = values.isna().to_numpy()
    found: list[tuple[float, str]] = []
    if missing.any() and not missing.all():
        found.append((_two_sided(auc(missing.astype(float), target)), "whether it is null"))
    present = ~missing
    if present.sum() > 1:
        y = target[present]
        if categorical:
            keys = pd.Series(values[present].astype(str).to_numpy())
            stats = pd.DataFrame({"k": keys, "y": y}).groupby("k")["y"].agg(["sum", "count"])
            rate = (stats["sum"] + SMOOTHING * y.mean()) / (stats["count"] + SMOOTHING)
            score = keys.map(rate).to_numpy(dtype="float64")
        else:
            score = pd.to_numeric(values[present], errors="coerce").to_numpy(dtype="float64")
        found.append((_two_sided(auc(score, y)), "its values"))
    return max(found, default=(0.5, "its values"))


def _two_sided(value: float) -> float:
    return max(value, 1.0 - value)


def data_checks(
    frame: pd.DataFrame, schema: Schema, params: ValidateParams
) -> tuple[int, list[tuple[str, str | None, str]]]:
    """Run every check: (checks evaluated, failures as (check, column, detail))."""
    failures: list[tuple[str, str | None, str]] = []
    extra = extra_columns(frame, schema)
    if extra:
        failures.append(
            (
                COLUMNS,
                None,
                f"columns not in params.yaml: {extra}; add each as a feature or to "
                "data.ignore_columns (a column no model may see), or drop it from the source",
            )
        )
    features = [(c.name, False) for c in schema.numeric if c.name in frame.columns] + [
        (c.name, True) for c in schema.categorical if c.name in frame.columns
    ]
    evaluated = 1
    limit = params.near_constant.max_top_share
    for name, _ in features:
        evaluated += 1
        share = top_share(frame[name])
        if share >= limit:
            failures.append(
                (
                    CONSTANT,
                    name,
                    f"one value fills {share:.1%} of the non-null rows (limit "
                    f"{limit:.1%}, validate.near_constant.max_top_share): it carries no signal; "
                    "remove it from the features",
                )
            )
    evaluated += _leakage(frame, schema, params, features, failures)
    return evaluated, failures


def _leakage(
    frame: pd.DataFrame,
    schema: Schema,
    params: ValidateParams,
    features: list[tuple[str, bool]],
    failures: list[tuple[str, str | None, str]],
) -> int:
    """Append leaking features to `failures`; the number of features checked."""
    import pandas as pd

    if schema.target not in frame.columns:
        return 0
    target = pd.to_numeric(frame[schema.target], errors="coerce")
    known = target.isin([0, 1]).to_numpy()
    y = target[known].to_numpy(dtype="int64")
    enough = params.leakage.min_class_rows
    if int(y.sum()) < enough or int(len(y) - y.sum()) < enough:
        return 0
    limit = params.leakage.max_auc
    for name, categorical in features:
        value, what = separation(frame.loc[known, name], y, categorical)
        if value > limit:
            failures.append(
                (
                    LEAKAGE,
                    name,
                    f"{what} alone separate {schema.target!r} with ROC AUC {value:.3f} (limit "
                    f"{limit}, validate.leakage.max_auc): likely known only after the outcome; "
                    "move it to data.ignore_columns",
                )
            )
    return len(features)
