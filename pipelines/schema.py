"""The one schema: raw columns, model features, their types and allowed values.

Built from params.yaml (`data`) and project.yaml (target, privacy); validation,
featurisation, serving and monitoring all read it from here, so a column added
to params.yaml flows everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.config import Config

TimePart = Literal["hour", "weekday", "month"]
TIME_PART_RANGE: dict[str, tuple[int, int]] = {"hour": (0, 23), "weekday": (0, 6), "month": (1, 12)}


@dataclass(frozen=True)
class NumericColumn:
    """A real-valued input with its inclusive allowed range."""

    name: str
    min: float
    max: float


@dataclass(frozen=True)
class CategoricalColumn:
    """A string input that must be one of `categories`; its code is its index there."""

    name: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class TimeFeature:
    """An integer feature derived from the time column (e.g. hour of pickup)."""

    name: str
    part: TimePart

    @property
    def range(self) -> tuple[int, int]:
        """Inclusive range of the derived value."""
        return TIME_PART_RANGE[self.part]


@dataclass(frozen=True)
class Schema:
    """Columns of a raw batch and the features a model sees, in model order."""

    id_column: str
    time_column: str
    target: str
    key_column: str | None
    oracle_column: str | None
    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]
    time_features: tuple[TimeFeature, ...]

    @property
    def feature_names(self) -> list[str]:
        """Model input columns, in the order the model matrix uses."""
        return [
            *(c.name for c in self.numeric),
            *(t.name for t in self.time_features),
            *(c.name for c in self.categorical),
        ]

    @property
    def numeric_feature_names(self) -> list[str]:
        """Features that are numbers (raw numerics and time parts)."""
        return [*(c.name for c in self.numeric), *(t.name for t in self.time_features)]

    @property
    def categorical_names(self) -> list[str]:
        """Features that are categories."""
        return [c.name for c in self.categorical]

    @property
    def input_columns(self) -> list[str]:
        """Raw columns a prediction needs: the time column and every raw feature."""
        return [self.time_column, *(c.name for c in self.numeric), *self.categorical_names]

    @property
    def required_columns(self) -> list[str]:
        """Raw columns every training batch must have."""
        key = [self.key_column] if self.key_column else []
        return [self.id_column, *key, *self.input_columns, self.target]

    def category(self, name: str) -> CategoricalColumn:
        """The categorical column called `name`."""
        for column in self.categorical:
            if column.name == name:
                return column
        raise KeyError(f"no categorical column named {name!r}")


def build_schema(config: Config) -> Schema:
    """The schema that params.yaml and project.yaml describe."""
    data = config.params.data
    return Schema(
        id_column=data.id_column,
        time_column=data.time_column,
        target=config.project.framing.target,
        key_column=data.key_column,
        oracle_column=data.oracle_column,
        numeric=tuple(NumericColumn(n, r.min, r.max) for n, r in data.numeric.items()),
        categorical=tuple(CategoricalColumn(n, tuple(v)) for n, v in data.categorical.items()),
        time_features=tuple(TimeFeature(n, p) for n, p in data.time_features.items()),
    )
