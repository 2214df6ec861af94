"""A small grid search over LightGBM settings, scored on the validation slice."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from pipelines.config import LgbmParams, TrainParams
from pipelines.features import FeatureEncoder
from pipelines.lgbm import LgbmSettings, fit_lgbm, lgbm_settings
from pipelines.mapping import Mapper, local_map
from pipelines.metrics import precision_at_recall
from pipelines.schema import Schema
from pipelines.split import Splits


class Trial(TypedDict):
    """One point of the search: the LightGBM values it changes."""

    num_leaves: int
    learning_rate: float


def search_space(params: TrainParams) -> list[Trial]:
    """The trials to run: params' lgbm values, then grid points, at most `max_trials`."""
    base: Trial = {
        "num_leaves": params.lgbm.num_leaves,
        "learning_rate": params.lgbm.learning_rate,
    }
    grid = itertools.product(
        params.search.num_leaves or [base["num_leaves"]],
        params.search.learning_rate or [base["learning_rate"]],
    )
    trials: list[Trial] = [base] + [
        {"num_leaves": leaves, "learning_rate": rate}
        for leaves, rate in grid
        if {"num_leaves": leaves, "learning_rate": rate} != base
    ]
    return trials[: params.search.max_trials]


@dataclass(frozen=True)
class TrialData:
    """What every trial fits and scores on; shipped once per trial to wherever it runs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    encoder: FeatureEncoder
    lgbm: LgbmParams
    seed: int
    recall_target: float


@dataclass(frozen=True)
class TrialOutcome:
    """One fitted trial: its settings, its fitted model and its validation scores."""

    settings: LgbmSettings
    model: Any
    precision: float
    recall: float


def run_trial(data: TrialData, trial: Trial) -> TrialOutcome:
    """Fit LightGBM with the trial's settings; score precision at the recall target."""
    settings = lgbm_settings(data.lgbm.model_copy(update=trial), data.encoder, data.seed)
    model = fit_lgbm(data.x_train, data.y_train, data.encoder, settings)
    scores = model.booster_.predict(data.x_valid)
    _, precision, recall = precision_at_recall(data.y_valid, scores, data.recall_target)
    return TrialOutcome(settings, model, precision, recall)


def search_lgbm(
    splits: Splits,
    schema: Schema,
    encoder: FeatureEncoder,
    params: TrainParams,
    recall_target: float,
    run_trials: Mapper = local_map,
) -> tuple[Any, LgbmSettings, pd.DataFrame]:
    """Fit each trial (through `run_trials`); return the best model, its settings, a row per trial.

    The best is the first trial with the highest validation precision, so the
    choice does not depend on where or in which order the trials ran.
    """
    data = TrialData(
        x_train=encoder.encode(splits.train),
        y_train=splits.train[schema.target].to_numpy(),
        x_valid=encoder.encode(splits.valid),
        y_valid=splits.valid[schema.target].to_numpy(),
        encoder=encoder,
        lgbm=params.lgbm,
        seed=params.seed,
        recall_target=recall_target,
    )
    trials = search_space(params)
    outcomes: list[TrialOutcome] = run_trials(partial(run_trial, data), trials)
    rows = [
        {
            "trial": number,
            **trial,
            "valid_precision_at_recall": outcome.precision,
            "valid_recall": outcome.recall,
        }
        for number, (trial, outcome) in enumerate(zip(trials, outcomes, strict=True))
    ]
    best = max(range(len(outcomes)), key=lambda i: (outcomes[i].precision, -i))
    return outcomes[best].model, outcomes[best].settings, pd.DataFrame(rows)
