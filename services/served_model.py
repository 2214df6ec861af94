"""A registry version held in memory for serving: model, threshold and row encoder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.explain import top_reasons
from pipelines.features import RowEncoder
from pipelines.model import DelayModel
from pipelines.schema import Schema


@dataclass(frozen=True)
class ServedModel:
    """One model version ready to answer: `version` is its number in the registry."""

    version: str
    threshold: float
    model: DelayModel
    rows: RowEncoder
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        version: str,
        threshold: float,
        model: DelayModel,
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
    ) -> ServedModel:
        """Check the model against today's schema and plan its row encoding."""
        return cls(version, threshold, model, RowEncoder(schema, model.encoder), metadata or {})

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model matrix of validated request rows."""
        return self.rows.encode(rows)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Delay probability per row of the matrix (one LightGBM thread: see predict_matrix)."""
        return self.model.predict_matrix(matrix, threads=1)

    def reasons(self, matrix: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The k features that raise each row's risk the most."""
        return top_reasons(self.model, matrix, k)
