"""Featurisation: the single transform used in training, evaluation and serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.schema import OTHER, CategoricalColumn, Schema

_TIME_PARTS = {
    "hour": lambda t: t.dt.hour,
    "weekday": lambda t: t.dt.weekday,
    "month": lambda t: t.dt.month,
}


def category_text(values: pd.Series) -> pd.Series:
    """Category values as text (object dtype, nulls kept): a code read as 101 or 101.0 is '101'."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    elif pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if len(present) and (present == np.round(present)).all():
            values = values.astype("Int64")
    out = values.astype(object)
    present = out.notna().to_numpy()
    if present.any():
        out[present] = out[present].map(str)
    return out.where(present, None)


def as_levels(values: pd.Series, column: CategoricalColumn) -> pd.Categorical:
    """The column's values over its levels: unlisted values of an open column become `OTHER`.

    Unlisted values of a closed column become null here; validation, the request
    models and scoring refuse them before any model sees them.
    """
    text = category_text(values)
    if column.open:
        unknown = text.notna() & ~text.isin(column.categories)
        text = text.mask(unknown, OTHER)
    return pd.Categorical(text, categories=list(column.levels))


def featurize(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Model-ready frame: typed features plus the id, key, time, target and oracle columns present.

    Columns the schema does not name (for example a precise postcode) are
    dropped here, which is what keeps the privacy allow-list true. Nulls stay
    null (NaN); open categories map unlisted values to `OTHER`.
    """
    times = pd.to_datetime(frame[schema.time_column])
    out = {}
    for column in (schema.id_column, schema.key_column, schema.time_column):
        if column and column in frame.columns:
            out[column] = frame[column]
    for num in schema.numeric:
        out[num.name] = pd.to_numeric(frame[num.name], errors="coerce").astype("float64")
    for feature in schema.time_features:
        out[feature.name] = _TIME_PARTS[feature.part](times).astype("int64")
    for cat in schema.categorical:
        out[cat.name] = as_levels(frame[cat.name], cat)
    for column in (schema.target, schema.oracle_column):
        if column and column in frame.columns:
            out[column] = frame[column]
    return pd.DataFrame(out, index=frame.index)


@dataclass(frozen=True)
class FeatureEncoder:
    """Turns featurised rows into the float matrix every model reads.

    Stored inside each model, so a model always encodes inputs the way it was
    trained, whatever params.yaml says later. Categories become their index in
    `categories` (the levels); a null is NaN. An unlisted value is an error for a
    closed column, the last level (`OTHER`) for an open one, never a silent guess.
    Encoders pickled before `open` and `fill_values` existed load with both empty.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    open: tuple[bool, ...] = ()
    """Per categorical: unlisted values go to its last level (empty: every column closed)."""
    fill_values: tuple[float, ...] = ()
    """Per matrix column: the value models that cannot take NaN use, learned on the train
    split (see `pipelines.impute`); empty: none learned."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, giving encoders saved before a field existed its default."""
        self.__dict__.update({"open": (), "fill_values": (), **state})

    @classmethod
    def from_schema(cls, schema: Schema) -> FeatureEncoder:
        """The encoder for the schema's features, in model order."""
        return cls(
            numeric=tuple(schema.numeric_feature_names),
            categorical=tuple(schema.categorical_names),
            categories=tuple(c.levels for c in schema.categorical),
            open=tuple(c.open for c in schema.categorical),
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

    def is_open(self, j: int) -> bool:
        """Whether categorical `j` maps unlisted values to its last level."""
        return bool(self.open[j]) if self.open else False

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """Float matrix (rows x features); category columns hold codes 0..k-1, nulls NaN."""
        matrix = np.empty((len(features), len(self.feature_names)), dtype="float64")
        for i, name in enumerate(self.numeric):
            matrix[:, i] = pd.to_numeric(features[name], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
        for j, (name, cats) in enumerate(zip(self.categorical, self.categories, strict=True)):
            matrix[:, len(self.numeric) + j] = self._codes(features[name], j, name, cats)
        return matrix

    def _codes(self, column: pd.Series, j: int, name: str, cats: tuple[str, ...]) -> np.ndarray:
        if isinstance(column.dtype, pd.CategoricalDtype) and tuple(column.cat.categories) == cats:
            codes = column.cat.codes.to_numpy().astype("float64")
        else:
            text = category_text(column)
            codes = pd.Categorical(text, categories=list(cats)).codes.astype("float64")
            unknown = (codes < 0) & text.notna().to_numpy()
            if unknown.any():
                if not self.is_open(j):
                    bad = sorted({str(v) for v in text[unknown].unique()})[:5]
                    raise ValueError(f"column {name!r}: unknown category {bad}")
                codes[unknown] = len(cats) - 1
        codes[codes < 0] = np.nan
        return codes


def count_unknown(schema: Schema, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per open category, how many rows hold a value it does not list (they score as `OTHER`)."""
    counts: dict[str, int] = {}
    for cat in schema.categorical:
        if cat.open:
            listed = set(cat.categories)
            n = sum(1 for r in rows if r.get(cat.name) is not None and r[cat.name] not in listed)
            if n:
                counts[cat.name] = n
    return counts


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
            (
                start + j,
                name,
                {value: code for code, value in enumerate(cats)},
                len(cats) - 1 if encoder.is_open(j) else None,
            )
            for j, (name, cats) in enumerate(
                zip(encoder.categorical, encoder.categories, strict=True)
            )
        ]
        self.width = len(encoder.feature_names)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Float matrix (rows x features), nulls NaN; ValueError names an unknown category."""
        matrix = np.empty((len(rows), self.width), dtype="float64")
        nan = float("nan")
        for r, row in enumerate(rows):
            for i, name, part in self._numeric:
                value = row.get(name)
                if value is None:
                    matrix[r, i] = nan
                else:
                    matrix[r, i] = value if part is None else _time_part(value, part)
            for i, name, codes, other in self._codes:
                value = row.get(name)
                code = nan if value is None else codes.get(value, other)
                if code is None:
                    raise ValueError(f"column {name!r}: unknown category {value!r}")
                matrix[r, i] = code
        return matrix
