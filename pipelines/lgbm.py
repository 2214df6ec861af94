"""LightGBM settings and fits, shared by the search (tune.py) and the final candidates."""

from __future__ import annotations

import os
from typing import Any, Literal, TypedDict

import numpy as np

from pipelines.config import LgbmParams
from pipelines.features import FeatureEncoder


class LgbmSettings(TypedDict):
    """Keyword arguments of LGBMClassifier: what a fit uses and a model records."""

    n_estimators: int
    learning_rate: float
    num_leaves: int
    min_child_samples: int
    subsample: float
    subsample_freq: int
    colsample_bytree: float
    reg_lambda: float
    class_weight: Literal["balanced"] | None
    monotone_constraints: list[int]
    """1 (increasing) or 0 per feature, in the encoder's feature order."""
    random_state: int
    deterministic: bool
    force_row_wise: bool
    verbose: int


def lgbm_settings(params: LgbmParams, encoder: FeatureEncoder, seed: int) -> LgbmSettings:
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


PASSIVE_OPENMP = {"OMP_WAIT_POLICY": "PASSIVE"}
"""LightGBM's OpenMP threads sleep between parallel regions instead of spinning. On a
machine whose cores other work shares, spinning threads fight that work for the cores:
measured on 2 shared cores (load ~6), 100 trees on 105k rows took 55 s spinning and 22 s
passive. Read when the OpenMP runtime starts: set it before LightGBM is first used."""


def prefer_passive_openmp() -> None:
    """Apply PASSIVE_OPENMP unless the environment already chose a wait policy."""
    for key, value in PASSIVE_OPENMP.items():
        os.environ.setdefault(key, value)


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
    matrix: np.ndarray, y: np.ndarray, encoder: FeatureEncoder, settings: LgbmSettings
) -> Any:
    """Gradient-boosted trees with native categorical splits."""
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**settings, n_jobs=fit_threads()).fit(
        matrix, y, categorical_feature=encoder.categorical_indices
    )
