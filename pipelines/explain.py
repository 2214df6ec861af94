"""Per-feature contributions to a score (SHAP values for trees), for reports and reasons."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.model import DelayModel


def contributions(model: DelayModel, matrix: np.ndarray) -> np.ndarray:
    """Contribution of each feature to each row's score, shape (rows, features).

    LightGBM: exact TreeSHAP values in log-odds (`pred_contrib`). Logistic
    regression: coefficient x standardised value, categories relative to the
    mean of their category coefficients. Baseline: 1/n for each rule that fires.
    """
    booster = getattr(model.estimator, "booster_", None)
    if booster is not None:
        return np.asarray(booster.predict(matrix, pred_contrib=True))[:, :-1]  # drop bias
    if model.name == "logreg":
        return _linear_contributions(model, matrix)
    return _rule_contributions(model, matrix)


def top_reasons(model: DelayModel, matrix: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
    """For each row, the `k` features that raise its delay risk the most, with their weight."""
    contrib = contributions(model, matrix)
    names = model.feature_names
    order = np.argsort(-contrib, axis=1)[:, :k]
    return [[(names[j], float(contrib[i, j])) for j in row] for i, row in enumerate(order)]


def _onehot_widths(onehot: Any, count: int) -> list[int]:
    """One-hot columns per category: its levels, the infrequent ones sharing one column."""
    try:
        infrequent = onehot.infrequent_categories_
    except AttributeError:  # fitted without infrequent grouping
        infrequent = [None] * count
    return [
        len(levels) - (len(rare) - 1 if rare is not None and len(rare) else 0)
        for levels, rare in zip(onehot.categories_, infrequent, strict=True)
    ]


def _linear_contributions(model: DelayModel, matrix: np.ndarray) -> np.ndarray:
    steps = model.estimator.named_steps
    if "fill" in steps:  # nulls get their fill values first, as in scoring
        matrix = steps["fill"].transform(matrix)
    prep, lr = steps["prep"], steps["model"]
    coef = lr.coef_[0]
    n_num = len(model.encoder.numeric)
    out = np.zeros(matrix.shape, dtype="float64")
    if n_num:
        scaled = prep.named_transformers_["num"].transform(matrix[:, :n_num])
        out[:, :n_num] = scaled * coef[:n_num]
    n_cat = len(model.encoder.categories)
    if not n_cat:
        return out
    onehot = prep.named_transformers_["cat"]
    encoded = onehot.transform(matrix[:, n_num:])
    start = 0
    for j, width in enumerate(_onehot_widths(onehot, n_cat)):
        block = coef[n_num + start : n_num + start + width]
        values = encoded[:, start : start + width] @ block
        out[:, n_num + j] = np.asarray(values).ravel() - block.mean()
        start += width
    return out


def _rule_contributions(model: DelayModel, matrix: np.ndarray) -> np.ndarray:
    rules = model.estimator
    out = np.zeros(matrix.shape, dtype="float64")
    fired = rules.fired(matrix)
    for i, column in enumerate(rules.columns):
        out[:, column] += fired[:, i] / len(rules.columns)
    return out
