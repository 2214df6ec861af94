"""A small grid search over LightGBM settings, scored on the validation slice."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from pipelines.config import TrainParams
from pipelines.evaluate import precision_at_recall
from pipelines.features import FeatureEncoder
from pipelines.schema import Schema
from pipelines.split import Splits


def search_space(params: TrainParams) -> list[dict[str, Any]]:
    """The trials to run: params' lgbm values, then grid points, at most `max_trials`."""
    base: dict[str, Any] = {
        "num_leaves": params.lgbm.num_leaves,
        "learning_rate": params.lgbm.learning_rate,
    }
    grid = itertools.product(
        params.search.num_leaves or [base["num_leaves"]],
        params.search.learning_rate or [base["learning_rate"]],
    )
    trials = [base] + [
        {"num_leaves": leaves, "learning_rate": rate}
        for leaves, rate in grid
        if {"num_leaves": leaves, "learning_rate": rate} != base
    ]
    return trials[: params.search.max_trials]


def search_lgbm(
    splits: Splits,
    schema: Schema,
    encoder: FeatureEncoder,
    params: TrainParams,
    recall_target: float,
) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Fit each trial; return the best model, its settings and a row per trial."""
    from pipelines.train import fit_lgbm, lgbm_settings

    x_train, x_valid = encoder.encode(splits.train), encoder.encode(splits.valid)
    y_train = splits.train[schema.target].to_numpy()
    y_valid = splits.valid[schema.target].to_numpy()
    rows, best = [], None
    for number, trial in enumerate(search_space(params)):
        settings = lgbm_settings(params.lgbm.model_copy(update=trial), encoder, params.seed)
        model = fit_lgbm(x_train, y_train, encoder, settings)
        scores = model.booster_.predict(x_valid)
        _, precision, recall = precision_at_recall(y_valid, scores, recall_target)
        rows.append(
            {
                "trial": number,
                **trial,
                "valid_precision_at_recall": precision,
                "valid_recall": recall,
            }
        )
        if best is None or precision > best[0]:
            best = (precision, model, settings)
    assert best is not None
    return best[1], best[2], pd.DataFrame(rows)
