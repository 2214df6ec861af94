"""Build and fit the candidates: rule baseline, logistic regression, boosted trees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.baselines import build_baseline
from pipelines.config import LogRegParams, TrainParams
from pipelines.features import FeatureEncoder
from pipelines.impute import FillNulls, learn_fill_values
from pipelines.mapping import Mapper, local_map
from pipelines.model import DelayModel
from pipelines.schema import Schema
from pipelines.split import Splits
from pipelines.tune import search_lgbm


@dataclass(frozen=True)
class TrainingResult:
    """The fitted candidates by name, and the search's trials table."""

    models: dict[str, DelayModel]
    trials: pd.DataFrame


def fit_logreg(
    matrix: np.ndarray, y: np.ndarray, encoder: FeatureEncoder, params: LogRegParams
) -> Pipeline:
    """Nulls filled, scaled numerics + capped one-hot categories -> logistic regression.

    Nulls get the encoder's fill values (learned on the train split). Each
    category gets at most `max_categories` one-hot columns: levels with fewer than
    `min_frequency` training rows (and the rarest beyond the cap) share one, so a
    column of hundreds of values stays small.
    """
    n_num = len(encoder.numeric)
    onehot = OneHotEncoder(
        categories=[list(range(len(c))) for c in encoder.categories],
        handle_unknown="infrequent_if_exist",
        max_categories=params.max_categories,
        min_frequency=params.min_frequency,
    )
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(range(n_num))),
            ("cat", onehot, encoder.categorical_indices),
        ]
    )
    model = LogisticRegression(
        C=params.C, class_weight=params.class_weight, max_iter=params.max_iter
    )
    steps = [("fill", FillNulls(encoder.fill_values)), ("prep", prep), ("model", model)]
    return Pipeline(steps).fit(matrix, y)


def train_candidates(
    splits: Splits,
    schema: Schema,
    params: TrainParams,
    recall_target: float,
    run_trials: Mapper = local_map,
) -> TrainingResult:
    """Fit every candidate on the train slice; the search scores LightGBM trials on validation."""
    encoder = FeatureEncoder.from_schema(schema)
    x_train = encoder.encode(splits.train)
    encoder = learn_fill_values(x_train, encoder, schema)
    y_train = splits.train[schema.target].to_numpy()
    baseline = build_baseline(params.baseline.rules, encoder)
    logreg = fit_logreg(x_train, y_train, encoder, params.logreg)
    lgbm, lgbm_params, trials = search_lgbm(
        splits, schema, encoder, params, recall_target, run_trials
    )
    models = {
        "baseline": DelayModel(
            "baseline",
            baseline,
            encoder,
            {k: v.to_json() for k, v in params.baseline.rules.items()},
        ),
        "logreg": DelayModel("logreg", logreg, encoder, params.logreg.model_dump()),
        "lgbm": DelayModel("lgbm", lgbm, encoder, dict(lgbm_params)),
    }
    return TrainingResult(models=models, trials=trials)
