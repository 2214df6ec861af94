"""Featurisation: the single transform used in training, evaluation and serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.schema import Schema

_TIME_PARTS = {
    "hour": lambda t: t.dt.hour,
    "weekday": lambda t: t.dt.weekday,
    "month": lambda t: t.dt.month,
}


def featurize(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Model-ready frame: typed features plus the id, key, time, target and oracle columns present.

    Columns the schema does not name (for example a precise postcode) are
    dropped here, which is what keeps the privacy allow-list true.
    """
    times = pd.to_datetime(frame[schema.time_column])
    out = {}
    for column in (schema.id_column, schema.key_column, schema.time_column):
        if column and column in frame.columns:
            out[column] = frame[column]
    for num in schema.numeric:
        out[num.name] = frame[num.name].astype("float64")
    for feature in schema.time_features:
        out[feature.name] = _TIME_PARTS[feature.part](times).astype("int64")
    for cat in schema.categorical:
        out[cat.name] = pd.Categorical(frame[cat.name], categories=list(cat.categories))
    for column in (schema.target, schema.oracle_column):
        if column and column in frame.columns:
            out[column] = frame[column]
    return pd.DataFrame(out, index=frame.index)


@dataclass(frozen=True)
class FeatureEncoder:
    """Turns featurised rows into the float matrix every model reads.

    Stored inside each model, so a model always encodes inputs the way it was
    trained, whatever params.yaml says later. Categories become their index in
    the schema's list; an unknown category is an error, never a silent guess.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]

    @classmethod
    def from_schema(cls, schema: Schema) -> FeatureEncoder:
        """The encoder for the schema's features, in model order."""
        return cls(
            numeric=tuple(schema.numeric_feature_names),
            categorical=tuple(schema.categorical_names),
            categories=tuple(c.categories for c in schema.categorical),
        )

    @property
    def feature_names(self) -> list[str]:
        """Column names of the matrix, in order."""
        return [*self.numeric, *self.categorical]

    @property
    def categorical_indices(self) -> list[int]:
        """Matrix columns that hold category codes."""
        start = len(self.numeric)
        return list(range(start, start + len(self.categorical)))

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """Float matrix (rows x features); category columns hold codes 0..k-1."""
        matrix = np.empty((len(features), len(self.feature_names)), dtype="float64")
        for i, name in enumerate(self.numeric):
            matrix[:, i] = features[name].to_numpy(dtype="float64")
        for j, (name, cats) in enumerate(zip(self.categorical, self.categories, strict=True)):
            column = features[name]
            if (
                isinstance(column.dtype, pd.CategoricalDtype)
                and tuple(column.cat.categories) == cats
            ):
                codes = column.cat.codes.to_numpy()
            else:
                codes = pd.Categorical(column, categories=list(cats)).codes
            if (codes < 0).any():
                bad = sorted({str(v) for v in column[codes < 0].unique()})[:5]
                raise ValueError(f"column {name!r}: unknown or missing category {bad}")
            matrix[:, len(self.numeric) + j] = codes
        return matrix


def _time_part(value: datetime, part: str) -> int:
    if value.tzinfo is not None:  # training times are naive UTC (see ingest.parse_time)
        value = value.astimezone(UTC).replace(tzinfo=None)
    if part == "hour":
        return value.hour
    if part == "weekday":
        return value.weekday()
    return value.month


class RowEncoder:
    """Encodes request rows (dicts of validated values) straight to the model matrix.

    The serving path: the same matrix `FeatureEncoder.encode(featurize(frame))`
    gives, without building a DataFrame, which costs more than the model itself
    for one row. Checked once against the model's encoder when built, so a model
    that needs a feature the schema no longer provides is refused at load time.
    """

    def __init__(self, schema: Schema, encoder: FeatureEncoder) -> None:
        """Plan how each matrix column is read from a row."""
        raw_numeric = {c.name for c in schema.numeric}
        time_parts = {t.name: t.part for t in schema.time_features}
        self._numeric: list[tuple[int, str, str | None]] = []
        for i, name in enumerate(encoder.numeric):
            if name in raw_numeric:
                self._numeric.append((i, name, None))
            elif name in time_parts:
                self._numeric.append((i, schema.time_column, time_parts[name]))
            else:
                raise ValueError(f"model feature {name!r} is not in the schema")
        start = len(encoder.numeric)
        self._codes = [
            (start + j, name, {value: code for code, value in enumerate(cats)})
            for j, (name, cats) in enumerate(
                zip(encoder.categorical, encoder.categories, strict=True)
            )
        ]
        self.width = len(encoder.feature_names)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Float matrix (rows x features); raises ValueError naming an unknown category."""
        matrix = np.empty((len(rows), self.width), dtype="float64")
        for r, row in enumerate(rows):
            for i, name, part in self._numeric:
                matrix[r, i] = row[name] if part is None else _time_part(row[name], part)
            for i, name, codes in self._codes:
                code = codes.get(row[name])
                if code is None:
                    raise ValueError(f"column {name!r}: unknown category {row[name]!r}")
                matrix[r, i] = code
        return matrix
