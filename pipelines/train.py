"""Build and fit the candidates: rule baseline, logistic regression, boosted trees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.baselines import build_baseline
from pipelines.config import LgbmParams, LogRegParams, TrainParams
from pipelines.features import FeatureEncoder
from pipelines.mapping import Mapper, local_map
from pipelines.model import DelayModel
from pipelines.schema import Schema
from pipelines.split import Splits


@dataclass(frozen=True)
class TrainingResult:
    """The fitted candidates by name, and the search's trials table."""

    models: dict[str, DelayModel]
    trials: pd.DataFrame


def fit_logreg(
    matrix: np.ndarray, y: np.ndarray, encoder: FeatureEncoder, params: LogRegParams
) -> Pipeline:
    """Scaled numerics + one-hot categories -> class-weighted logistic regression."""
    n_num = len(encoder.numeric)
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(range(n_num))),
            (
                "cat",
                OneHotEncoder(
                    categories=[list(range(len(c))) for c in encoder.categories],
                    handle_unknown="ignore",
                ),
                encoder.categorical_indices,
            ),
        ]
    )
    model = LogisticRegression(
        C=params.C, class_weight=params.class_weight, max_iter=params.max_iter
    )
    return Pipeline([("prep", prep), ("model", model)]).fit(matrix, y)


def lgbm_settings(params: LgbmParams, encoder: FeatureEncoder, seed: int) -> dict[str, Any]:
    """Keyword arguments for LGBMClassifier, deterministic for a given seed."""
    return {
        "n_estimators": params.n_estimators,
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_child_samples": params.min_child_samples,
        "subsample": params.subsample,
        "subsample_freq": 1,
        "colsample_bytree": params.colsample_bytree,
        "reg_lambda": params.reg_lambda,
        "class_weight": params.class_weight,
        "monotone_constraints": [
            1 if name in params.monotone_increasing else 0 for name in encoder.feature_names
        ],
        "random_state": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def fit_threads() -> int | None:
    """Threads a LightGBM fit uses here: OMP_NUM_THREADS where set, else every physical core.

    LightGBM's own default ignores OMP_NUM_THREADS, which Dask sets to 1 in its
    workers: two workers on two cores would then run four OpenMP threads, which
    spin and make each fit tens of times slower. The trees do not depend on it
    (`deterministic=True`), so it is not one of the recorded settings.
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def fit_lgbm(
    matrix: np.ndarray, y: np.ndarray, encoder: FeatureEncoder, settings: dict[str, Any]
) -> Any:
    """Gradient-boosted trees with native categorical splits."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**settings, n_jobs=fit_threads()).fit(
        matrix, y, categorical_feature=encoder.categorical_indices
    )


def train_candidates(
    splits: Splits,
    schema: Schema,
    params: TrainParams,
    recall_target: float,
    run_trials: Mapper = local_map,
) -> TrainingResult:
    """Fit every candidate on the train slice; the search scores LightGBM trials on validation."""
    from pipelines.tune import search_lgbm

    encoder = FeatureEncoder.from_schema(schema)
    x_train = encoder.encode(splits.train)
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
            {k: v.model_dump() for k, v in params.baseline.rules.items()},
        ),
        "logreg": DelayModel("logreg", logreg, encoder, params.logreg.model_dump()),
        "lgbm": DelayModel("lgbm", lgbm, encoder, lgbm_params),
    }
    return TrainingResult(models=models, trials=trials)
