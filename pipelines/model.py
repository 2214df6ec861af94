"""The trained artefact: an estimator together with the encoder it was trained with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.features import FeatureEncoder


class Estimator(Protocol):
    """Anything that scores an encoded matrix with class probabilities."""

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Probabilities, shape (rows, 2)."""
        ...


@dataclass
class DelayModel:
    """A candidate model: `name` says which family (baseline, logreg, lgbm)."""

    name: str
    estimator: Any
    encoder: FeatureEncoder
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Features the model reads, in matrix order."""
        return self.encoder.feature_names

    def predict_matrix(self, matrix: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Delay probability for each row of an encoded matrix.

        `threads=1` suits a server answering a few rows at a time: LightGBM's
        OpenMP threads would otherwise spin between requests and take a core.
        None means OpenMP's default here (not the thread count of wherever the
        model was trained): every core, or one in a Dask worker.
        """
        booster = getattr(self.estimator, "booster_", None)
        if booster is not None:  # LightGBM's booster is ~15x faster than the sklearn wrapper
            num_threads = 0 if threads is None else threads  # 0: OpenMP's default
            return np.asarray(booster.predict(matrix, num_threads=num_threads), dtype="float64")
        return np.asarray(self.estimator.predict_proba(matrix)[:, 1], dtype="float64")

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Delay probability for each featurised row."""
        return self.predict_matrix(self.encoder.encode(features))
