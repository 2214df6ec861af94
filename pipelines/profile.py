"""Profiling a table for `mlops init`: what each column looks like and what it should be.

`profile_frame` reads a frame once and says, per column, whether it is the
target, the time, the id, the routing key, a numeric or categorical feature, or
a column to ignore, each with the reason; ranges get a margin, categories their
frequent values (the rest go to the other bucket), null shares become null
policies. Plain functions on a DataFrame: `pipelines.draft` turns a `Profile`
into params.yaml and project.yaml.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.checks import separation
from pipelines.config import check_column_name
from pipelines.errors import DataError

MARGIN = 0.1
"""Ranges are widened by this share of the observed span on each side (never below 0 for
columns that never were)."""
MAX_LISTED = 250
"""A category lists at most this many values; the rest go to the other bucket."""
OPEN_ABOVE = 20
"""Categories with more distinct values than this are open: new values will come."""
MIN_COUNT = 20
"""A category value seen fewer times is rare: it goes to the other bucket."""
UNIQUE_SHARE = 0.5
"""Text columns with more distinct values than this share of rows are identifiers or free text."""
MAX_TOP_SHARE = 0.99
LEAK_AUC = 0.98
_NAMES = {
    "target": re.compile(r"(target|label|outcome|^y$|class|churn|default|fraud|delay)", re.I),
    "time": re.compile(r"(time|date|timestamp|_at$|^at$|when)", re.I),
    "id": re.compile(r"(^id$|_id$|[ .]id$|^id[_ .]|uuid|identifier)", re.I),
    "key": re.compile(r"(customer|client|user|account|member|household|device|key|_id$)", re.I),
    "score": re.compile(r"(prob|score|oracle|prediction|pred$)", re.I),
}


@dataclass(frozen=True)
class Role:
    """A column chosen for a role (or None), and why."""

    column: str | None
    reason: str


@dataclass(frozen=True)
class NumericDraft:
    """A numeric feature: its range with a margin and its share of nulls."""

    min: float
    max: float
    null_share: float


@dataclass(frozen=True)
class CategoryDraft:
    """A categorical feature: listed values (commonest first), whether open, its null share."""

    values: list[str]
    open: bool
    null_share: float
    distinct: int
    """Distinct non-null values seen."""


@dataclass(frozen=True)
class Profile:
    """What `mlops init` inferred: the roles, the features and the columns left out, with why."""

    rows: int
    target: Role
    time: Role
    id: Role
    key: Role
    positive_rate: float
    numeric: dict[str, NumericDraft] = field(default_factory=dict)
    categorical: dict[str, CategoryDraft] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    """Column -> why no model should see it."""
    separations: dict[str, float] = field(default_factory=dict)
    """Feature -> its single-feature ROC AUC (for the baseline rules and the report)."""
    time_span_days: float = 0.0
    time_min: pd.Timestamp | None = None
    time_max: pd.Timestamp | None = None
    has_time_of_day: bool = True


def _nice(value: float, up: bool) -> float:
    """`value` rounded outward to 3 significant digits (a readable bound)."""
    if value == 0 or not math.isfinite(value):
        return 0.0 if value == 0 else value
    digits = 2 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    return round((math.ceil if up else math.floor)(value * scale) / scale, max(digits, 0))


def numeric_range(values: pd.Series) -> tuple[float, float]:
    """The observed range widened by `MARGIN` of its span (not below 0 if it never was)."""
    low, high = float(values.min()), float(values.max())
    span = (high - low) or abs(high) or 1.0
    lower, upper = low - MARGIN * span, high + MARGIN * span
    if low >= 0 > lower:
        lower = 0.0
    return _nice(lower, up=False), _nice(upper, up=True)


def _is_time(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if values.dtype != object:
        return False
    sample = values.dropna().astype(str).head(1000)
    if sample.empty or not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().mean() > 0.99)


def _as_time(values: pd.Series) -> pd.Series:
    """Naive UTC date-times (unparseable values NaT)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def _binary(values: pd.Series) -> bool:
    present = values.dropna()
    if pd.api.types.is_bool_dtype(present):
        return True
    return pd.api.types.is_numeric_dtype(present) and set(present.unique()) <= {0, 1}


def _pick(candidates: list[str], kind: str) -> str | None:
    named = [c for c in candidates if _NAMES[kind].search(c)]
    found = named or candidates
    return found[0] if found else None


def choose_target(frame: pd.DataFrame, given: str | None) -> Role:
    """The 0/1 column to predict: the one given, else the only (or best-named) binary column."""
    if given is not None:
        if given not in frame.columns:
            raise DataError(f"--target {given!r} is not a column of the data")
        if not _binary(frame[given]) or frame[given].isna().any():
            raise DataError(
                f"--target {given!r} must hold 0/1 (or true/false) in every row; "
                "map it to 0/1 first (e.g. SQL `case when ... then 1 else 0 end`)"
            )
        return Role(given, "given with --target")
    binary = [c for c in frame.columns if _binary(frame[c]) and not frame[c].isna().any()]
    chosen = _pick([c for c in binary if _NAMES["target"].search(c)], "target")
    if chosen is None and len(binary) == 1:
        chosen = binary[0]
    if chosen is None:
        raise DataError(
            f"cannot tell which column to predict (0/1 columns: {binary or 'none'}); "
            "give --target COLUMN"
        )
    return Role(chosen, "the only 0/1 column" if len(binary) == 1 else "a 0/1 column named so")


def choose_time(frame: pd.DataFrame, given: str | None, taken: set[str]) -> Role:
    """The column that orders rows: the one given, else the (best-named) date-time column."""
    if given is not None:
        if given not in frame.columns or not _is_time(frame[given]):
            raise DataError(f"--time {given!r} is not a column of ISO 8601 date-times")
        return Role(given, "given with --time")
    found = [c for c in frame.columns if c not in taken and _is_time(frame[c])]
    chosen = _pick(found, "time")
    if chosen is None:
        raise DataError(
            "no date-time column found: the split orders rows by time; give --time COLUMN "
            "(ISO 8601 values such as 2025-12-20T17:30:00)"
        )
    why = "the only date-time column" if len(found) == 1 else f"date-time, named so (of {found})"
    return Role(chosen, why)


def choose_id(frame: pd.DataFrame, given: str | None, taken: set[str]) -> Role:
    """A column unique per row: the one given, else the best-named unique text/integer column."""
    if given is not None:
        if given not in frame.columns:
            raise DataError(f"--id {given!r} is not a column of the data")
        if frame[given].isna().any() or not frame[given].is_unique:
            raise DataError(f"--id {given!r} is not unique and non-null in every row")
        return Role(given, "given with --id")
    unique = [
        c
        for c in frame.columns
        if c not in taken
        and (frame[c].dtype == object or pd.api.types.is_integer_dtype(frame[c]))
        and not frame[c].isna().any()
        and frame[c].is_unique
    ]
    chosen = _pick(unique, "id")
    if chosen is None:
        raise DataError(
            "no column is unique in every row: add one (SQL `row_number() over ()`, or "
            "`df.reset_index(names='row_id')`) and give it with --id"
        )
    return Role(chosen, "unique in every row" + (", named as an id" if chosen in unique else ""))


def choose_key(frame: pd.DataFrame, taken: set[str]) -> Role:
    """A routing key (sticky A/B): a repeated id-like column, e.g. a customer; None if none."""
    rows = len(frame)
    found = [
        c
        for c in frame.columns
        if c not in taken
        and _NAMES["key"].search(c)
        and frame[c].dtype == object
        and not frame[c].isna().any()
        and 50 <= frame[c].nunique() < rows
    ]
    if not found:
        return Role(None, "no repeated customer/user-like column: requests route by id")
    chosen = found[0]
    return Role(chosen, f"{frame[chosen].nunique()} distinct values repeated over {rows} rows")


def _null_share(values: pd.Series) -> float:
    return float(values.isna().mean()) if len(values) else 0.0


def _category(values: pd.Series) -> CategoryDraft:
    """Frequent values listed (commonest first, at most `MAX_LISTED`); open when some are not."""
    from pipelines.features import category_text

    text = category_text(values).dropna()
    counts = text.value_counts()
    floor = max(MIN_COUNT, math.ceil(len(values) * 0.0005))
    frequent = [str(v) for v, n in counts.items() if n >= floor][:MAX_LISTED]
    is_open = len(frequent) < len(counts) or len(counts) > OPEN_ABOVE
    if not frequent:  # every value rare: list the commonest few, the rest to other
        frequent = [str(v) for v in counts.index[:MAX_LISTED]]
    return CategoryDraft(frequent, is_open, _null_share(values), len(counts))


def _left_out(values: pd.Series, name: str, rows: int) -> str | None:
    """Why `values` should be no feature, or None when it can be one."""
    present = values.dropna()
    if present.empty:
        return "always null"
    if present.nunique() == 1:
        return "a single value: carries no signal"
    if _is_time(values):
        return "another date-time: time features come from the time column only"
    top = float(present.value_counts(normalize=True).iloc[0])
    if top >= MAX_TOP_SHARE:
        return f"one value fills {top:.1%} of the rows: near constant"
    is_text = not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if is_text and present.nunique() > UNIQUE_SHARE * rows:
        return f"{present.nunique()} distinct values in {rows} rows: an identifier or free text"
    score = _NAMES["score"].search(name) and pd.api.types.is_float_dtype(values)
    if score and present.between(0, 1).all():
        return "looks like a score or probability (set data.oracle_column if it is the truth)"
    return None


def profile_frame(
    frame: pd.DataFrame,
    target: str | None = None,
    time: str | None = None,
    id_column: str | None = None,
) -> Profile:
    """Everything `mlops init` infers from `frame`; DataError when a role cannot be decided.

    Args:
        frame: The data as read (CSV, Parquet or a query's rows).
        target: The 0/1 column to predict (None: guessed).
        time: The date-time column that orders rows (None: guessed).
        id_column: A column unique per row (None: guessed).

    Returns:
        The roles, numeric and categorical features, ignored columns with reasons, and
        each feature's single-feature ROC AUC.
    """
    bad = []
    for name in frame.columns:
        try:
            check_column_name(str(name))
        except ValueError as exc:
            bad.append(str(exc))
    if bad:
        raise DataError("\n".join(bad))
    if len(frame) == 0:
        raise DataError("the data has no rows")
    target_role = choose_target(frame, target)
    assert target_role.column is not None
    time_role = choose_time(frame, time, {target_role.column})
    assert time_role.column is not None
    taken = {target_role.column, time_role.column}
    id_role = choose_id(frame, id_column, taken)
    assert id_role.column is not None
    taken.add(id_role.column)
    key_role = choose_key(frame, taken)
    if key_role.column:
        taken.add(key_role.column)
    y = frame[target_role.column].astype("int64").to_numpy()
    numeric, categorical, ignored, aucs = _features(frame, [c for c in frame if c not in taken], y)
    times = _as_time(frame[time_role.column])
    span = (times.max() - times.min()).total_seconds() / 86400 if times.notna().any() else 0.0
    return Profile(
        rows=len(frame),
        target=target_role,
        time=time_role,
        id=id_role,
        key=key_role,
        positive_rate=float(np.mean(y)),
        numeric=numeric,
        categorical=categorical,
        ignored=ignored,
        separations=aucs,
        time_span_days=float(span),
        time_min=times.min(),
        time_max=times.max(),
        has_time_of_day=bool((times.dropna().dt.hour != 0).any()),
    )


def _features(
    frame: pd.DataFrame, names: list[str], y: np.ndarray
) -> tuple[dict[str, NumericDraft], dict[str, CategoryDraft], dict[str, str], dict[str, float]]:
    """The columns left after the roles: numeric and categorical drafts, ignored ones, AUCs."""
    numeric: dict[str, NumericDraft] = {}
    categorical: dict[str, CategoryDraft] = {}
    ignored: dict[str, str] = {}
    aucs: dict[str, float] = {}
    for name in names:
        values = frame[name]
        reason = _left_out(values, name, len(frame))
        is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        auc = separation(values, y, categorical=not is_number)[0] if reason is None else 0.5
        if reason is None and auc > LEAK_AUC:
            reason = f"separates the target alone (ROC AUC {auc:.3f}): known after the outcome?"
        if reason is not None:
            ignored[name] = reason
            continue
        aucs[name] = auc
        if is_number:
            low, high = numeric_range(values.dropna().astype("float64"))
            numeric[name] = NumericDraft(low, high, _null_share(values))
        else:
            categorical[name] = _category(values)
    return numeric, categorical, ignored, aucs


def baseline_rules(frame: pd.DataFrame, profile: Profile, limit: int = 3) -> dict[str, dict]:
    """Rules "a person would write" from the data: the features that separate the target best.

    A number fires above its 75th percentile (below its 25th when lower values go
    with the positive class); a category fires on the values whose positive rate is
    at least 1.5 times the overall rate (those listed). Returns params.yaml rules.
    """
    assert profile.target.column is not None
    y = frame[profile.target.column].astype("int64")
    ranked = sorted(profile.separations.items(), key=lambda kv: -kv[1])
    rules: dict[str, dict] = {}
    for name, auc in ranked:
        if len(rules) == limit or auc < 0.55:
            break
        values = frame[name]
        if name in profile.numeric:
            present = values.notna()
            higher = values[present & (y == 1)].mean() >= values[present & (y == 0)].mean()
            cut = float(values.quantile(0.75 if higher else 0.25))
            rules[name] = {"above" if higher else "below": _nice(cut, up=higher)}
        elif name in profile.categorical:
            from pipelines.features import category_text

            rates = y.groupby(category_text(values)).mean()
            listed = profile.categorical[name].values
            risky = [v for v in rates.sort_values(ascending=False).index if v in listed]
            risky = [v for v in risky if rates[v] >= 1.5 * y.mean()][:5]
            if risky:
                rules[name] = {"equals": risky[0]} if len(risky) == 1 else {"in": risky}
    if not rules and profile.numeric:  # nothing separates: one rule so the baseline exists
        name = next(iter(profile.numeric))
        rules[name] = {"above": _nice(float(frame[name].median()), up=True)}
    elif not rules and profile.categorical:
        name, draft = next(iter(profile.categorical.items()))
        rules[name] = {"equals": draft.values[0]}
    return rules
