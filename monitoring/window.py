"""One window of the prediction log as model features, and why a window cannot be scored.

The log keeps each request's raw inputs (the time column as an ISO string, the
numerics and the categoricals); `current_frame` derives the model features from
them with the same `featurize` training uses, so drift is measured on exactly
what the model saw. `window_problems` lists every reason a window would be
scored dishonestly (too little data, a feature missing from the log or the
reference); the summary reports such a window as stale instead of guessing.
"""

from __future__ import annotations

import pandas as pd

from pipelines.features import featurize
from pipelines.schema import Schema

LOG_COLUMNS: tuple[str, ...] = (
    "request_id",
    "received_at",
    "variant",
    "model_version",
    "probability",
    "decision",
    "threshold",
    "outcome",
    "shadow_version",
    "shadow_probability",
    "shadow_latency_ms",
    "shadow_error",
)
"""Prediction-log columns `current_frame` keeps beside the features (those present)."""


class WindowProblem(ValueError):
    """A window that cannot be scored honestly; `problems` says why, one reason each."""

    def __init__(self, problems: list[str]) -> None:
        """Keep the reasons; the message joins them."""
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def log_column(log_rows: pd.DataFrame, name: str) -> str | None:
    """Column of `log_rows` holding the raw input `name` (the log prefixes clashing names)."""
    for candidate in (f"feature.{name}", name):
        if candidate in log_rows.columns:
            return candidate
    return None


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def window_problems(
    log_rows: pd.DataFrame,
    reference: pd.DataFrame | None,
    schema: Schema,
    min_rows: int,
    model_version: str | None = None,
) -> list[str]:
    """Every reason the window cannot be scored; empty when it can.

    Args:
        log_rows: The window, as `PredictionLog.read_predictions` returns it.
        reference: The serving model's drift reference (featurised training rows), or None.
        schema: The project schema.
        min_rows: `monitoring.min_rows`; fewer predictions make the window stale.
        model_version: Version the reference belongs to, for the messages.

    Returns:
        Human-readable problems, each naming the column or number at fault.
    """
    version = "?" if model_version is None else model_version
    problems: list[str] = []
    if len(log_rows) == 0:
        problems.append("no predictions in the window")
    else:
        if len(log_rows) < min_rows:
            problems.append(
                f"only {len(log_rows)} predictions in the window, fewer than "
                f"monitoring.min_rows ({min_rows})"
            )
        missing = [c for c in schema.input_columns if log_column(log_rows, c) is None]
        if missing:
            problems.append(f"missing from the prediction log: {_names(missing)}")
        present = [c for c in schema.input_columns if c not in missing]
        empty = [c for c in present if log_rows[log_column(log_rows, c)].isna().all()]
        if empty:
            problems.append(f"no values in the window's log for: {_names(empty)}")
    if reference is None:
        problems.append(f"no drift reference for model version {version}")
    elif len(reference) == 0:
        problems.append(f"the drift reference of model version {version} is empty")
    else:
        lacking = [f for f in schema.feature_names if f not in reference.columns]
        if lacking:
            problems.append(
                f"the drift reference of model version {version} lacks: {_names(lacking)}"
            )
    return problems


def current_frame(log_rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The window's model features, derived from the logged raw inputs, plus the log's outcome.

    The time column is parsed (ISO strings, any offset, to naive UTC like training) and
    the time features derived by `featurize`; `LOG_COLUMNS` present in the log are kept.

    Args:
        log_rows: The window, as `PredictionLog.read_predictions` returns it.
        schema: The project schema.

    Returns:
        One row per prediction: `schema.feature_names` (categoricals with the schema's
        categories) followed by the kept log columns, on the log's index.

    Raises:
        WindowProblem: The window is empty, lacks a raw input, or has unreadable times.
    """
    if len(log_rows) == 0:
        raise WindowProblem(["no predictions in the window"])
    columns = {c: log_column(log_rows, c) for c in schema.input_columns}
    missing = [c for c, found in columns.items() if found is None]
    if missing:
        raise WindowProblem([f"missing from the prediction log: {_names(missing)}"])
    raw = pd.DataFrame({c: log_rows[found] for c, found in columns.items()}, index=log_rows.index)
    times = pd.to_datetime(raw[schema.time_column], utc=True, errors="coerce", format="ISO8601")
    bad = int(times.isna().sum())
    if bad:
        raise WindowProblem([f"{bad} rows have no readable {schema.time_column!r}"])
    raw[schema.time_column] = times.dt.tz_convert(None)
    features = featurize(raw, schema)[schema.feature_names]
    kept = [c for c in LOG_COLUMNS if c in log_rows.columns]
    return pd.concat([features, log_rows[kept]], axis=1)
