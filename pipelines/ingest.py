"""Ingest: bring a batch from its source (the generator or a user's file) into a frame."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import DataParams, GenerateParams
from pipelines.errors import UserError
from pipelines.generate import generate_deliveries
from pipelines.schema import Schema

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class DataError(UserError, ValueError):
    """The input data cannot be used; the message names the file and column."""


@dataclass(frozen=True)
class IngestReport:
    """What the ingest stage brought in: reports/ingest.json."""

    rows: int
    columns: int
    source: str
    """`generator`, or the path of the user's file as params.yaml names it."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> IngestReport:
        """Read the JSON form back."""
        return cls(rows=payload["rows"], columns=payload["columns"], source=payload["source"])


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV or Parquet file, with errors that name the file."""
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {kind}: {exc}") from exc


def parse_time(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Parse the time column to datetimes where every value parses; else leave it for validation.

    Validation, not ingest, decides whether a batch is good: a column that does
    not parse is kept as it is so the report can name it.
    """
    column = schema.time_column
    if column not in frame.columns or pd.api.types.is_datetime64_any_dtype(frame[column]):
        return frame
    try:
        parsed = pd.to_datetime(frame[column], errors="raise", format="ISO8601")
    except (ValueError, TypeError):
        return frame
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return frame.assign(**{column: parsed})


def load_batch(
    data: DataParams, generate: GenerateParams, schema: Schema, root: Path | str = "."
) -> pd.DataFrame:
    """The raw batch named by params: generated deliveries or the user's file."""
    if data.source == "generator":
        frame = generate_deliveries(
            rows=generate.rows,
            seed=generate.seed,
            start=generate.start,
            days=generate.days,
            scenario=generate.scenario,
        )
    else:
        assert data.path is not None  # checked by DataParams
        path = Path(data.path)
        frame = read_table(path if path.is_absolute() else Path(root) / path)
    frame = parse_time(frame, schema)
    labelled = read_labelled(data, schema, root)
    if labelled is not None:
        frame = pd.concat([frame, labelled], ignore_index=True)
    return frame


def read_labelled(data: DataParams, schema: Schema, root: Path | str = ".") -> pd.DataFrame | None:
    """Production rows with their true outcome, exported by monitoring; None when there are none."""
    if not data.labelled_dir:
        return None
    folder = Path(root) / data.labelled_dir
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    frames = [parse_time(read_table(f), schema) for f in files]
    for path, frame in zip(files, frames, strict=True):
        missing = sorted(set(schema.required_columns) - set(frame.columns))
        if missing:
            raise DataError(f"{path}: labelled rows lack columns {missing}")
    return pd.concat(frames, ignore_index=True)
