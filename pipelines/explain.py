"""Per-feature contributions to a score (SHAP values for trees), for reports and reasons."""

from __future__ import annotations

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


def _linear_contributions(model: DelayModel, matrix: np.ndarray) -> np.ndarray:
    prep, lr = model.estimator.named_steps["prep"], model.estimator.named_steps["model"]
    coef = lr.coef_[0]
    n_num = len(model.encoder.numeric)
    out = np.zeros(matrix.shape, dtype="float64")
    scaled = prep.named_transformers_["num"].transform(matrix[:, :n_num])
    out[:, :n_num] = scaled * coef[:n_num]
    offset = n_num
    for j, cats in enumerate(model.encoder.categories):
        block = coef[offset : offset + len(cats)]
        codes = matrix[:, n_num + j].astype(int)
        out[:, n_num + j] = block[codes] - block.mean()
        offset += len(cats)
    return out


def _rule_contributions(model: DelayModel, matrix: np.ndarray) -> np.ndarray:
    rules = model.estimator
    out = np.zeros(matrix.shape, dtype="float64")
    for column, above, code in zip(rules.columns, rules.above, rules.equals_code, strict=True):
        values = matrix[:, column]
        fired = values > above if above is not None else values == code
        out[:, column] += fired / len(rules.columns)
    return out
