"""The one schema: raw columns, model features, their types and allowed values.

Built from params.yaml (`data`) and project.yaml (target, privacy); validation,
featurisation, serving and monitoring all read it from here, so a column added
to params.yaml flows everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pipelines.config import OTHER, CategoryNulls, Config, NumericNulls

TimePart = Literal["hour", "weekday", "month"]
TIME_PART_RANGE: dict[str, tuple[int, int]] = {"hour": (0, 23), "weekday": (0, 6), "month": (1, 12)}


@dataclass(frozen=True)
class NullPolicy:
    """How many nulls a column may hold in a batch (share), and what replaces them.

    `impute` is what models that need a value get: `median`, `mean` or `zero` for
    numbers; `most_frequent` or `other` for categories.
    """

    max_share: float
    impute: str


@dataclass(frozen=True)
class NumericColumn:
    """A real-valued input with its inclusive allowed range; `nulls` None: never null."""

    name: str
    min: float
    max: float
    nulls: NullPolicy | None = None

    @property
    def allows_nulls(self) -> bool:
        """Whether a null is a valid value (a request may leave it out)."""
        return self.nulls is not None and self.nulls.max_share > 0


@dataclass(frozen=True)
class CategoricalColumn:
    """A text input listed by `categories`; its code is its index in `levels`.

    A closed column (`unknown` reject) refuses any other value. An open one
    (`unknown` other) turns any other value into the level `OTHER`, last of `levels`.
    """

    name: str
    categories: tuple[str, ...]
    unknown: Literal["reject", "other"] = "reject"
    nulls: NullPolicy | None = None

    @property
    def open(self) -> bool:
        """Whether unlisted values go to the `OTHER` level (else they are refused)."""
        return self.unknown == "other"

    @property
    def levels(self) -> tuple[str, ...]:
        """What a model sees: the listed values, then `OTHER` for an open column."""
        return (*self.categories, OTHER) if self.open else self.categories

    @property
    def allows_nulls(self) -> bool:
        """Whether a null is a valid value."""
        return self.nulls is not None and self.nulls.max_share > 0


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
    time_range: tuple[datetime, datetime] | None = None
    """Inclusive bounds of the time column (naive UTC); None: unbounded."""
    ignore_columns: tuple[str, ...] = ()
    """Source columns no model sees; a batch may hold them."""

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

    @property
    def allowed_columns(self) -> list[str]:
        """Every column a training batch may hold: the required ones, oracle and ignored ones."""
        oracle = [self.oracle_column] if self.oracle_column else []
        return [*self.required_columns, *oracle, *self.ignore_columns]

    @property
    def nullable_columns(self) -> list[str]:
        """Raw features that may be null."""
        numeric = [c.name for c in self.numeric if c.allows_nulls]
        return numeric + [c.name for c in self.categorical if c.allows_nulls]

    def category(self, name: str) -> CategoricalColumn:
        """The categorical column called `name`."""
        for column in self.categorical:
            if column.name == name:
                return column
        raise KeyError(f"no categorical column named {name!r}")


def _nulls(policy: NumericNulls | CategoryNulls | None) -> NullPolicy | None:
    return None if policy is None else NullPolicy(policy.max_share, policy.impute)


def build_schema(config: Config, now: datetime | None = None) -> Schema:
    """The schema that params.yaml and project.yaml describe (relative times from `now`)."""
    data = config.params.data
    return Schema(
        id_column=data.id_column,
        time_column=data.time_column,
        target=config.project.framing.target,
        key_column=data.key_column,
        oracle_column=data.oracle_column,
        numeric=tuple(
            NumericColumn(n, r.min, r.max, _nulls(r.nulls)) for n, r in data.numeric.items()
        ),
        categorical=tuple(
            CategoricalColumn(n, tuple(c.values), c.unknown, _nulls(c.nulls))
            for n, c in data.categorical.items()
        ),
        time_features=tuple(TimeFeature(n, p) for n, p in data.time_features.items()),
        time_range=data.time_range.resolve(now),
        ignore_columns=tuple(data.ignore_columns),
    )
