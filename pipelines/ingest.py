"""Ingest: bring each source (the generator, a file or a query; labelled rows) into a frame.

Every source is read on its own into a `SourceBatch` with the schema's types
(`normalize`): the time column parsed, numbers that arrived as objects made
numbers, category codes made text. The ingest stage validates each batch on its
own before `combine` appends the labelled rows to the main batch, so production
labels never stand in for a main batch that is empty or broken.
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines import io
from pipelines.config import DataParams, GenerateParams
from pipelines.errors import DataError
from pipelines.features import category_text
from pipelines.generate import generate_deliveries
from pipelines.schema import Schema

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
Role = Literal["main", "labelled"]

__all__ = [
    "READERS",
    "DataError",
    "IngestReport",
    "SourceBatch",
    "SourceFile",
    "combine",
    "content_hash",
    "load_batch",
    "normalize",
    "parse_time",
    "read_labelled",
    "read_labelled_files",
    "read_main",
    "read_table",
]


@dataclass(frozen=True)
class SourceFile:
    """One source of an ingested batch: what it is, its role and how many rows it gave."""

    name: str
    """`generator`, `sql: <url without password>`, or a file's path."""
    role: Role
    rows: int


@dataclass(frozen=True)
class IngestReport:
    """What the ingest stage brought in: reports/ingest.json."""

    rows: int
    columns: int
    source: str
    """`generator`, the path of the user's file as params.yaml names it, or `sql: <url>`."""
    content_hash: str = ""
    """SHA-256 of the batch's values (row order included): the same data gives the same hash."""
    freshness: dict[str, Any] | None = None
    """The SQL source's state when it was read (row count, max of the freshness key)."""
    files: tuple[SourceFile, ...] = ()
    """Each source validated on its own: the main batch first, then labelled files."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {**asdict(self), "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> IngestReport:
        """Read the JSON form back (reports written before the hash and files existed too)."""
        return cls(
            rows=payload["rows"],
            columns=payload["columns"],
            source=payload["source"],
            content_hash=payload.get("content_hash", ""),
            freshness=payload.get("freshness"),
            files=tuple(SourceFile(**f) for f in payload.get("files", [])),
        )


@dataclass(frozen=True)
class SourceBatch:
    """One source read and typed: the main batch, or one file of labelled production rows."""

    name: str
    role: Role
    frame: pd.DataFrame = field(repr=False)
    path: Path | None = None
    """The file on disk (None for the generator and SQL)."""


def read_table(path: Path | str, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file, with errors that name the file.

    `text_columns` of a CSV are read as text (category codes keep their leading
    zeros). Parquet page checksums are verified where the file has them.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if kind == "parquet":
        return io.read_parquet(path)
    try:
        header = pd.read_csv(path, nrows=0).columns
        dtype = {c: str for c in text_columns if c in header}
        return pd.read_csv(path, dtype=dtype)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {kind}: {exc}") from exc


def parse_time(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Parse the time column to naive UTC datetimes where every value parses; else leave it.

    Validation, not ingest, decides whether a batch is good: a column that does
    not parse is kept as it is so the report can name it.
    """
    column = schema.time_column
    if column not in frame.columns:
        return frame
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values) and len(values):
        return frame  # numbers are no times (validation names the column)
    else:
        try:
            parsed = pd.to_datetime(values, errors="raise", format="ISO8601", utc=True)
        except (ValueError, TypeError):
            return frame
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return frame.assign(**{column: parsed})


def _all_numbers(values: pd.Series) -> bool:
    present = values.dropna()
    return all(
        isinstance(v, numbers.Number) and not isinstance(v, bool | np.bool_) for v in present
    )


def normalize(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The schema's types where the values allow them; anything else is left for validation.

    Times to naive UTC datetimes; number columns that arrived as objects (all null,
    decimals from a database) to floats; categories to text; a boolean target to 0/1.
    """
    frame = parse_time(frame, schema)
    typed: dict[str, pd.Series] = {}
    for col in schema.numeric:
        values = frame.get(col.name)
        if values is not None and values.dtype == object and _all_numbers(values):
            typed[col.name] = pd.to_numeric(values, errors="coerce").astype("float64")
    for cat in schema.categorical:
        if cat.name in frame.columns:
            typed[cat.name] = category_text(frame[cat.name])
    target = frame.get(schema.target)
    if target is not None and pd.api.types.is_bool_dtype(target):
        typed[schema.target] = target.astype("int64")
    return frame.assign(**typed) if typed else frame


def _text_columns(schema: Schema) -> tuple[str, ...]:
    key = (schema.key_column,) if schema.key_column else ()
    return (schema.id_column, *key, *schema.categorical_names)


def read_main(
    data: DataParams, generate: GenerateParams, schema: Schema, root: Path | str = "."
) -> SourceBatch:
    """The main batch params name: generated deliveries, the user's file or a query's result."""
    root = Path(root)
    if data.source == "generator":
        frame = generate_deliveries(
            rows=generate.rows,
            seed=generate.seed,
            start=generate.start,
            days=generate.days,
            scenario=generate.scenario,
        )
        return SourceBatch("generator", "main", normalize(frame, schema))
    if data.source == "sql":
        from pipelines.sql import display_url, read_query

        assert data.sql is not None  # checked by DataParams
        frame = read_query(data.sql, root)
        return SourceBatch(f"sql: {display_url(data.sql.url)}", "main", normalize(frame, schema))
    assert data.path is not None  # checked by DataParams
    path = Path(data.path)
    full = path if path.is_absolute() else root / path
    frame = read_table(full, _text_columns(schema))
    return SourceBatch(str(data.path), "main", normalize(frame, schema), full)


def read_labelled_files(
    data: DataParams, schema: Schema, root: Path | str = "."
) -> list[SourceBatch]:
    """Each file of labelled production rows (exported by monitoring), in name order."""
    if not data.labelled_dir:
        return []
    folder = Path(root) / data.labelled_dir
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    batches = []
    for path in files:
        frame = normalize(read_table(path, _text_columns(schema)), schema)
        missing = [c for c in schema.required_columns if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: labelled rows lack columns {missing}")
        batches.append(SourceBatch(str(path.relative_to(root)), "labelled", frame, path))
    return batches


def combine(batches: list[SourceBatch]) -> pd.DataFrame:
    """The main batch with the labelled rows appended (each batch already validated)."""
    frames = [b.frame for b in batches if len(b.frame) or b.role == "main"]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the frame's column names and values, in row order."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_labelled(data: DataParams, schema: Schema, root: Path | str = ".") -> pd.DataFrame | None:
    """Every labelled production row in one frame; None when there are none."""
    batches = read_labelled_files(data, schema, root)
    return combine(batches) if batches else None


def load_batch(
    data: DataParams, generate: GenerateParams, schema: Schema, root: Path | str = "."
) -> pd.DataFrame:
    """The main batch with the labelled rows appended, unvalidated (the stage validates each)."""
    return combine(
        [read_main(data, generate, schema, root), *read_labelled_files(data, schema, root)]
    )
