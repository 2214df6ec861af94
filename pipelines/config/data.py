"""The models of params.yaml `data`: the source, its columns and the policy of each column.

Short forms stay what they always meant: `name: {min, max}` is a number that is
never null, `name: [a, b]` a category that is one of the list, never null, any
other value refused. Longer forms add a null policy and open categories:

    precip_mm: {min: 0, max: 120, nulls: {max_share: 0.15, impute: median}}
    depot: {values: [N1, N2], unknown: other, nulls: {max_share: 0.05}}
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import Frozen, Ratio

OTHER = "__other__"
"""The bucket of an open category: values not listed (unknown or rare) become this level."""
NAME_PATTERN = re.compile(r"^[^\W_][\w .\-]*$")
"""Column names: a letter or digit first, then letters, digits, `_`, spaces, dots or dashes."""
MAX_NAME = 64
MAX_CATEGORY = 200
"""Longest category value, in characters (request fields of open categories are bounded too)."""
_RELATIVE = re.compile(r"^now(?:\s*([+-])\s*(\d+)\s*([yd]))?$")


def check_column_name(name: str) -> str:
    """`name` if it works everywhere (YAML, request fields, metric labels, MLflow); else why not."""
    if not isinstance(name, str) or not name:
        raise ValueError("a column name must be a non-empty string")
    if len(name) > MAX_NAME or name != name.strip() or not NAME_PATTERN.match(name):
        raise ValueError(
            f"column name {name!r} cannot be used: names start with a letter or digit and hold "
            f"only letters, digits, '_', spaces, dots or dashes (at most {MAX_NAME} characters); "
            "rename it in the source (a CSV header, `df.rename(columns=...)`, or "
            'SQL `select "odd name" as good_name`)'
        )
    return name


def _category_value(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError(
            f"{value} is a YAML boolean: quote category values such as yes/no/on/off ('yes')"
        )
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ValueError(f"category value {value!r} must be non-empty printable text")
    if len(value) > MAX_CATEGORY:
        raise ValueError(f"category value {value[:20]!r}... is over {MAX_CATEGORY} characters")
    if value == OTHER:
        raise ValueError(f"{OTHER!r} is the bucket of open categories, not a value to list")
    return value


class NumericNulls(Frozen):
    """How many nulls a number may have in a batch, and what replaces them where needed.

    Only the logistic regression needs a value; LightGBM takes nulls as they are.
    """

    max_share: Ratio
    """Validation fails when a batch holds a larger share of nulls in the column."""
    impute: Literal["median", "mean", "zero"] = "median"
    """Learned on the train split and stored with the model."""


class CategoryNulls(Frozen):
    """How many nulls a category may have, and what the logistic regression sees instead."""

    max_share: Ratio
    impute: Literal["most_frequent", "other"] = "most_frequent"
    """`other` needs `unknown: other`: a null then counts as the other bucket."""


class NumericRange(Frozen):
    """Inclusive range a numeric column must stay in, and its null policy (None: no nulls)."""

    min: float
    max: float
    nulls: NumericNulls | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NumericRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class CategorySpec(Frozen):
    """A category's listed values, what an unlisted value means, and its null policy."""

    values: list[str] = Field(min_length=1)
    unknown: Literal["reject", "other"] = "reject"
    """reject: any other value is an error (422, failed validation); other: it is the
    `__other__` bucket, a level the models learn from the unlisted training values."""
    nulls: CategoryNulls | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"values": value} if isinstance(value, list) else value

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, values: Any) -> Any:
        return [_category_value(v) for v in values] if isinstance(values, list) else values

    @model_validator(mode="after")
    def _consistent(self) -> CategorySpec:
        if len(set(self.values)) != len(self.values):
            raise ValueError("a value is listed twice")
        if self.nulls is not None and self.nulls.impute == "other" and self.unknown != "other":
            raise ValueError("nulls.impute: other needs unknown: other")
        return self


class TimeRange(Frozen):
    """Times the time column may hold: an ISO date, or `now`, `now-30y`, `now+1y`, `now+90d`."""

    min: str = "2000-01-01"
    max: str = "now+1y"

    @field_validator("min", "max", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, date):  # YAML reads an unquoted 2000-01-01 as a date
            raise ValueError(
                f'quote the date ("{value.isoformat()}"): DVC cannot read YAML dates in params'
            )
        return value

    @field_validator("min", "max")
    @classmethod
    def _parses(cls, value: str) -> str:
        resolve_time(value, datetime(2000, 1, 1))
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        low, high = self.resolve()
        if low >= high:
            raise ValueError(f"min ({self.min}) is not before max ({self.max})")
        return self

    def resolve(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The bounds as naive UTC datetimes, relative ones taken from `now` (default: now)."""
        now = now or datetime.now(UTC).replace(tzinfo=None)
        return resolve_time(self.min, now), resolve_time(self.max, now)


def resolve_time(text: str, now: datetime) -> datetime:
    """An ISO date/time (naive: UTC) or `now[+-]N[yd]` as a naive UTC datetime."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        sign, count, unit = relative.groups()
        if sign is None:
            return now
        days = int(count) * (365 if unit == "y" else 1)
        return now + timedelta(days=days if sign == "+" else -days)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO date (2000-01-01) nor now[+-]N[yd] (now+1y)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class SqlSource(Frozen):
    """A query whose result is the training batch (`data.source: sql`)."""

    url: str = "duckdb:///data/source/example.duckdb"
    """duckdb:///relative/path.duckdb (embedded), or any SQLAlchemy URL such as
    postgresql+psycopg://user@host/db; keep passwords out of here (PGPASSWORD, ~/.pgpass)."""
    query: Annotated[str, Field(min_length=1)]
    freshness_key: str | None = None
    """A column whose max value (with the row count) decides whether the source changed."""


ColumnName = Annotated[str, Field(min_length=1)]


class DataParams(Frozen):
    """Where the data comes from and what its columns are."""

    source: Literal["generator", "file", "sql"]
    path: str | None = None
    sql: SqlSource | None = None
    labelled_dir: str | None = "data/source/labelled"
    """Labelled production rows (Parquet) that monitoring exports for retraining; appended."""
    id_column: ColumnName
    time_column: ColumnName
    key_column: ColumnName | None = None
    oracle_column: ColumnName | None = None
    time_range: TimeRange = Field(default_factory=TimeRange)
    ignore_columns: list[str] = Field(default_factory=list)
    """Columns of the source that no model sees (privacy, recorded after the outcome...)."""
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    categorical: dict[str, CategorySpec] = Field(default_factory=dict)
    time_features: dict[str, Literal["hour", "weekday", "month"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DataParams:
        if self.source == "file" and not self.path:
            raise ValueError("source is 'file' but path is not set")
        if self.source == "sql" and self.sql is None:
            raise ValueError("source is 'sql' but sql (url, query) is not set")
        overlap = set(self.numeric) & set(self.categorical)
        if overlap:
            raise ValueError(f"columns listed as numeric and categorical: {sorted(overlap)}")
        if not self.numeric and not self.categorical:
            raise ValueError("no numeric or categorical columns are listed")
        for name in self.column_names:
            check_column_name(name)
        return self

    @property
    def column_names(self) -> list[str]:
        """Every column name the section uses (raw columns and derived features)."""
        named = [self.id_column, self.time_column, self.key_column, self.oracle_column]
        return [
            *(n for n in named if n),
            *self.ignore_columns,
            *self.numeric,
            *self.categorical,
            *self.time_features,
        ]
