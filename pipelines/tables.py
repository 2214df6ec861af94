"""CSV and Parquet files in and out of scoring, chunk by chunk.

`open_table` checks a file's type and columns and reads it in chunks of
bounded size (`Table`); `write_chunks` writes frames one after another into
a CSV or Parquet file, atomically; `CsvSink` appends rows to an open CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

import pandas as pd

from pipelines import io
from pipelines.errors import DataError
from pipelines.ingest import READERS
from pipelines.schema import Schema

CHUNK_ROWS = 200_000
"""Rows read, scored and written at a time: bounds memory whatever the file size."""


def scoring_columns(schema: Schema) -> list[str]:
    """Raw columns a scored file must have: the id and every prediction input."""
    return [schema.id_column, *schema.input_columns]


def file_kind(path: Path | str) -> str:
    """'csv' or 'parquet' by the file's extension; anything else is a DataError."""
    kind = READERS.get(Path(path).suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported file type {Path(path).suffix!r}; use .csv or .parquet"
        )
    return kind


@dataclass(frozen=True)
class Table:
    """A CSV or Parquet file opened for scoring: the columns read, its row count when known."""

    path: Path
    kind: str
    columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    """Read as text from a CSV, so ids keep leading zeros and categories stay strings."""
    rows: int | None
    """Data rows, from Parquet metadata; None for CSV (counting would read the file twice)."""
    chunk_rows: int

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The file's rows, `chunk_rows` at a time (at least one chunk, maybe empty)."""
        yield from self.csv_chunks() if self.kind == "csv" else self.parquet_chunks()

    def csv_chunks(self, source: IO[bytes] | None = None) -> Iterator[pd.DataFrame]:
        """The CSV's rows, or those of `source`: a slice of the file behind its header line."""
        reader = pd.read_csv(
            self.path if source is None else source,
            usecols=list(self.columns),
            dtype=dict.fromkeys(self.text_columns, str),
            chunksize=self.chunk_rows,
        )
        with reader:
            yield from self._named_errors(reader)

    def parquet_chunks(self, row_groups: Sequence[int] | None = None) -> Iterator[pd.DataFrame]:
        """The Parquet file's rows, or those of some of its row groups (page checksums verified)."""
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path, page_checksum_verification=True) as parquet:
            if parquet.metadata.num_rows == 0:
                yield parquet.schema_arrow.empty_table().select(list(self.columns)).to_pandas()
                return
            batches = parquet.iter_batches(
                batch_size=self.chunk_rows, row_groups=row_groups, columns=list(self.columns)
            )
            yield from self._named_errors(batch.to_pandas() for batch in batches)

    def _named_errors(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The frames as read; a read error (a ragged CSV line, a bad page) names the file."""
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except (ValueError, OSError) as exc:
                raise DataError(f"{self.path}: cannot be read as {self.kind}: {exc}") from exc
            yield frame


def _header(path: Path, kind: str) -> tuple[list[str], int | None]:
    try:
        if kind == "csv":
            return list(pd.read_csv(path, nrows=0).columns), None
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as meta:
            return list(meta.schema_arrow.names), meta.metadata.num_rows
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {kind}: {exc}") from exc


def open_table(path: Path | str, schema: Schema, chunk_rows: int = CHUNK_ROWS) -> Table:
    """Open a CSV or Parquet file for chunked scoring; its type and columns are checked here."""
    path = Path(path)
    kind = file_kind(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    names, rows = _header(path, kind)
    absent = [c for c in scoring_columns(schema) if c not in names]
    if absent:
        raise DataError(
            f"{path}: missing column(s) {', '.join(map(repr, absent))}; "
            f"scoring needs {', '.join(scoring_columns(schema))}"
        )
    key = [schema.key_column] if schema.key_column and schema.key_column in names else []
    columns = (schema.id_column, *key, *schema.input_columns)
    text = (schema.id_column, *key, *schema.categorical_names)
    return Table(path, kind, columns, text, rows, chunk_rows)


def write_chunks(target: Path | str, frames: Iterable[pd.DataFrame]) -> int:
    """Write frames one after another to a CSV or Parquet file (by extension), atomically.

    Nothing appears at `target` unless every frame was written; an existing
    file there is replaced only then. Returns the rows written.
    """
    kind, rows = file_kind(target), 0
    with io.atomic_path(target) as tmp:
        if kind == "csv":
            with tmp.open("w", newline="") as handle:
                for i, frame in enumerate(frames):
                    frame.to_csv(handle, header=i == 0, index=False)
                    rows += len(frame)
            return rows
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer, empty = None, pa.table({})
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if not len(frame):  # its text columns have no type yet: let a full frame decide
                    empty = table
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, write_page_checksum=True)
                writer.write_table(table.cast(writer.schema))
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            pq.write_table(empty, tmp)
    return rows


class CsvSink:
    """Appends rows (e.g. rejected ones) to an open CSV file whose header is written up front."""

    def __init__(self, handle: TextIO, columns: list[str]) -> None:
        self.handle, self.columns = handle, columns
        self.rows = 0
        """Rows appended so far."""
        pd.DataFrame(columns=columns).to_csv(handle, index=False)

    def __call__(self, rows: pd.DataFrame) -> None:
        """Append `rows` in the sink's columns (absent ones empty, others dropped)."""
        rows.reindex(columns=self.columns).to_csv(self.handle, header=False, index=False)
        self.rows += len(rows)
