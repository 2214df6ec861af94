"""Scoring: probability and decision, with the threshold chosen at evaluation.

`score` scores featurised rows in memory; `score_chunks` scores raw batches
chunk by chunk, rejecting rows a model cannot score; `score_table` streams a
file opened with `pipelines.tables.open_table` through it into an atomically
written CSV or Parquet file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import io
from pipelines.errors import DataError
from pipelines.features import FeatureEncoder, category_text, featurize
from pipelines.model import DelayModel
from pipelines.schema import Schema
from pipelines.tables import CsvSink, Table, file_kind, scoring_columns, write_chunks

EXAMPLES = 5
"""Row numbers and values quoted per failed check."""
Reject = Callable[[pd.DataFrame], None]
"""Receives rows that cannot be scored: `row` (1-based), the raw columns, `reason`."""


def _decide(proba: np.ndarray, threshold: float) -> np.ndarray:
    return (proba >= threshold).astype("int8")


def score(model: DelayModel, features: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Delay probability and the warning decision (probability >= threshold) per row."""
    proba = model.predict_proba(features)
    return pd.DataFrame(
        {"delay_probability": proba, "delayed_predicted": _decide(proba, threshold)},
        index=features.index,
    )


# ------------------------------------------------------------- chunked scoring


@dataclass(frozen=True)
class _Problem:
    """Rows of a chunk that fail one check on one column."""

    column: str
    what: str
    rows: np.ndarray  # bool mask over the chunk
    values: pd.Series | None = None  # the offending raw values, quoted as examples


def _time(column: pd.Series) -> pd.Series:
    """Naive UTC datetimes, as ingest.parse_time gives training; NaT where a value is no time."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        text = column if column.dtype == object else column.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def _numbers(
    chunk: pd.DataFrame, schema: Schema, clean: dict[str, object], problems: list[_Problem]
) -> None:
    """Numbers as floats into `clean`; rows with a refused value into `problems`."""
    for num in schema.numeric:
        raw = chunk[num.name]
        values = raw if pd.api.types.is_float_dtype(raw) else pd.to_numeric(raw, errors="coerce")
        clean[num.name] = array = values.to_numpy(dtype="float64", na_value=np.nan)
        absent = raw.isna().to_numpy()
        checks = {
            "missing": absent if not num.allows_nulls else np.zeros_like(absent),
            "not a number": np.isnan(array) & ~absent,
            "not finite": np.isinf(array),
            f"outside [{num.min:g}, {num.max:g}]": np.isfinite(array)
            & ((array < num.min) | (array > num.max)),
        }
        problems += [
            _Problem(num.name, what, rows, None if what == "missing" else raw)
            for what, rows in checks.items()
            if rows.any()
        ]


def _inspect(
    chunk: pd.DataFrame, schema: Schema, encoder: FeatureEncoder
) -> tuple[pd.DataFrame, list[_Problem]]:
    """Typed copy of a raw chunk (times, floats, categories) and the checks its rows fail.

    Nulls are refused where the schema allows none; an unlisted category is refused
    where the model's encoder keeps its column closed, and scores as `OTHER` otherwise.
    """
    problems: list[_Problem] = []
    clean: dict[str, object] = {}
    missing = chunk[schema.id_column].isna().to_numpy()
    problems += [_Problem(schema.id_column, "missing", missing)] if missing.any() else []
    for column in (schema.id_column, schema.key_column):
        if column and column in chunk.columns:
            clean[column] = chunk[column]
    raw = chunk[schema.time_column]
    clean[schema.time_column] = times = _time(raw)
    bad = times.isna().to_numpy()
    if bad.any():
        absent = raw.isna().to_numpy()
        problems += [_Problem(schema.time_column, "missing", absent)] if absent.any() else []
        if (bad & ~absent).any():
            problems.append(_Problem(schema.time_column, "not a time", bad & ~absent, raw))
    if schema.time_range is not None:
        low, high = schema.time_range
        outside = (~bad & ((times < low) | (times > high))).to_numpy()
        if outside.any():
            span = f"outside [{low:%Y-%m-%d}, {high:%Y-%m-%d}] (data.time_range)"
            problems.append(_Problem(schema.time_column, span, outside, raw))
    _numbers(chunk, schema, clean, problems)
    levels = dict(zip(encoder.categorical, encoder.categories, strict=True))
    is_open = {name: encoder.is_open(j) for j, name in enumerate(encoder.categorical)}
    for cat in schema.categorical:
        raw = chunk[cat.name]
        text = category_text(raw)
        absent = text.isna().to_numpy()
        known = text.isin(levels.get(cat.name, cat.levels)).to_numpy()
        clean[cat.name] = text
        if absent.any() and not cat.allows_nulls:
            problems.append(_Problem(cat.name, "missing", absent))
        unknown = ~absent & ~known
        if unknown.any() and not is_open.get(cat.name, False):
            problems.append(_Problem(cat.name, "unknown category", unknown, raw))
    return pd.DataFrame(clean, index=chunk.index), problems


def _row_numbers(mask: np.ndarray, first_row: int) -> np.ndarray:
    return np.flatnonzero(mask) + first_row


def _explain(source: str, chunk_len: int, first_row: int, problems: list[_Problem]) -> str:
    bad = np.logical_or.reduce([p.rows for p in problems])
    last = first_row + chunk_len - 1
    lines = [
        f"{source}: {int(bad.sum())} of rows {first_row}-{last} cannot be scored"
        " (row 1 is the first data row):"
    ]
    for p in problems:
        rows = _row_numbers(p.rows, first_row)
        shown = ", ".join(str(r) for r in rows[:EXAMPLES]) + (
            ", ..." if len(rows) > EXAMPLES else ""
        )
        example = ""
        if p.values is not None:
            values = pd.unique(p.values.to_numpy()[p.rows])[:EXAMPLES]
            example = ", e.g. " + ", ".join(
                repr(v.item() if hasattr(v, "item") else v) for v in values
            )
        label = "row" if len(rows) == 1 else "rows"
        lines.append(f"  column {p.column!r}: {len(rows)} {p.what}{example} ({label} {shown})")
    return "\n".join(lines)


def _rejected(chunk: pd.DataFrame, first_row: int, problems: list[_Problem]) -> pd.DataFrame:
    bad = np.logical_or.reduce([p.rows for p in problems])
    reasons = pd.Series("", index=range(len(chunk)), dtype=object)
    for p in problems:
        reasons[p.rows] += f"; {p.column}: {p.what}"
    out = chunk[bad].reset_index(drop=True)
    out.insert(0, "row", _row_numbers(bad, first_row))
    return out.assign(reason=reasons[bad].str[2:].to_numpy())


def score_chunks(
    model: DelayModel,
    chunks: Iterable[pd.DataFrame],
    schema: Schema,
    threshold: float,
    version: str,
    *,
    source: str = "input",
    reject: Reject | None = None,
    first_row: int = 1,
) -> Iterator[pd.DataFrame]:
    """Score raw chunks: per chunk, id (and key), `delay_probability`, `delayed_predicted`, version.

    Rows are checked before scoring: missing columns, missing, unparseable or
    out-of-range times, non-numeric, infinite or out-of-range numbers, nulls
    where the schema allows none, and unlisted values of closed categories
    (those of open ones score as `OTHER`). The first chunk with such a row raises `DataError` naming
    `source`, each column and example row numbers, unless `reject` is given:
    then the bad rows go to `reject` with their reasons and the rest are scored.
    `first_row` is the number of the first chunk's first row in the whole file.
    """
    for chunk in chunks:
        absent = [c for c in scoring_columns(schema) if c not in chunk.columns]
        if absent:
            raise DataError(f"{source}: missing column(s) {', '.join(map(repr, absent))}")
        clean, problems = _inspect(chunk, schema, model.encoder)
        if problems:
            if reject is None:
                raise DataError(_explain(source, len(chunk), first_row, problems))
            reject(_rejected(chunk, first_row, problems))
            clean = clean[~np.logical_or.reduce([p.rows for p in problems])]
        first_row += len(chunk)
        yield _predict(model, clean, schema, threshold, version)


def _predict(
    model: DelayModel, clean: pd.DataFrame, schema: Schema, threshold: float, version: str
) -> pd.DataFrame:
    features = featurize(clean, schema)
    for name in model.encoder.categorical:  # as text: the model's own levels decide the codes
        if name in clean.columns:
            features[name] = clean[name]
    matrix = model.encoder.encode(features)
    proba = model.predict_matrix(matrix) if len(matrix) else np.empty(0, dtype="float64")
    ids = [c for c in (schema.id_column, schema.key_column) if c and c in clean.columns]
    out = {c: clean[c].to_numpy() for c in ids}
    return pd.DataFrame(
        {
            **out,
            "delay_probability": proba,
            "delayed_predicted": _decide(proba, threshold),
            "model_version": np.full(len(proba), version, dtype=object),
        }
    )


# ------------------------------------------------------------------ a whole file


@dataclass(frozen=True)
class ScoredFile:
    """What `score_table` wrote: rows scored into `output`, rows rejected (with --skip-invalid)."""

    output: Path
    rows: int
    rejected: int
    rejected_path: Path | None


def score_table(
    model: DelayModel,
    table: Table,
    output: Path | str,
    schema: Schema,
    threshold: float,
    version: str,
    *,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ScoredFile:
    """Score every row of `table` into `output` (CSV or Parquet), atomically.

    By default the first chunk with a row that cannot be scored stops the run
    and nothing is written. With `skip_invalid`, such rows go to
    `<output>.rejected.csv` with their reasons and the rest are scored.
    `progress` is told how many rows each scored chunk held.
    """
    output = Path(output)
    file_kind(output)
    if output.resolve() == table.path.resolve():
        raise DataError(f"{output}: output would overwrite the input")
    chunks = _counted(table.chunks(), progress)
    source = str(table.path)
    if not skip_invalid:
        frames = score_chunks(model, chunks, schema, threshold, version, source=source)
        return ScoredFile(output, write_chunks(output, frames), 0, None)
    rejected_path = output.with_name(output.name + ".rejected.csv")
    with io.atomic_path(rejected_path) as tmp, tmp.open("w", newline="") as handle:
        sink = CsvSink(handle, ["row", *table.columns, "reason"])
        frames = score_chunks(model, chunks, schema, threshold, version, source=source, reject=sink)
        rows = write_chunks(output, frames)
    return ScoredFile(output, rows, sink.rows, rejected_path)


def _counted(
    chunks: Iterator[pd.DataFrame], progress: Callable[[int], None] | None
) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        yield chunk
        if progress is not None:
            progress(len(chunk))
