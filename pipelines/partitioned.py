"""Batch scoring in partitions: each part of a file is scored on its own, wherever it runs.

`plan` cuts a table into partitions of about `partition_rows` rows: Parquet
at row-group boundaries, CSV at line breaks (so a CSV whose quoted fields
hold line breaks must be scored in one process, with `score_table`).
`score_partitioned` hands the partitions to a mapper (see `pipelines.mapping`);
each is scored by `score_chunks`, exactly as `score_table` scores the file in
one pass, and written to a part file beside the output; the parts are then
joined in order into the output, atomically. Rejected rows keep their row
numbers in the whole file.
"""

from __future__ import annotations

import io as bytes_io
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import io
from pipelines.ingest import DataError
from pipelines.mapping import Mapper, local_map
from pipelines.model import DelayModel
from pipelines.predict import ScoredFile, score_chunks
from pipelines.schema import Schema
from pipelines.tables import Table, file_kind, write_chunks

PARTITION_ROWS = 500_000
"""Rows per partition: one unit of work for one worker."""
_BLOCK_BYTES = 16 << 20


@dataclass(frozen=True)
class Partition:
    """A contiguous run of a file's rows."""

    number: int
    first_row: int
    """Number of its first row in the whole file (row 1 is the first data row)."""
    rows: int
    start: int
    """Parquet: first row group. CSV: byte offset of its first line."""
    stop: int
    """Parquet: the row group after its last. CSV: byte offset after its last line."""


def plan(table: Table, partition_rows: int = PARTITION_ROWS) -> list[Partition]:
    """Partitions covering every row of `table` in order (one, maybe empty, at least)."""
    if partition_rows < 1:
        raise ValueError(f"partition_rows must be positive, got {partition_rows}")
    return (
        _parquet_plan(table, partition_rows)
        if table.kind == "parquet"
        else _csv_plan(table, partition_rows)
    )


def _parquet_plan(table: Table, partition_rows: int) -> list[Partition]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(table.path) as parquet:
        sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    parts: list[Partition] = []
    group, first = 0, 1
    while group < len(sizes):
        stop, rows = group, 0
        while stop < len(sizes) and (rows == 0 or rows + sizes[stop] <= partition_rows):
            rows += sizes[stop]
            stop += 1
        parts.append(Partition(len(parts), first, rows, group, stop))
        group, first = stop, first + rows
    return parts or [Partition(0, 1, 0, 0, 0)]


def _csv_plan(table: Table, partition_rows: int) -> list[Partition]:
    """Byte ranges of `partition_rows` lines each, found by one pass over the raw bytes."""
    parts: list[Partition] = []
    with table.path.open("rb") as handle:
        start = offset = len(handle.readline())
        rows, last_byte = 0, b"\n"
        while block := handle.read(_BLOCK_BYTES):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n")) + offset + 1
            for end in ends[partition_rows - rows - 1 :: partition_rows]:
                parts.append(
                    Partition(len(parts), _next_row(parts), partition_rows, start, int(end))
                )
                start = int(end)
            rows = (rows + len(ends)) % partition_rows
            offset += len(block)
            last_byte = block[-1:]
        if offset > start:  # lines after the last full partition, the last maybe unterminated
            rows += last_byte != b"\n"
            parts.append(Partition(len(parts), _next_row(parts), rows, start, offset))
    return parts or [Partition(0, 1, 0, start, start)]


def _next_row(parts: list[Partition]) -> int:
    return parts[-1].first_row + parts[-1].rows if parts else 1


def read_partition(table: Table, partition: Partition) -> Iterator[pd.DataFrame]:
    """The partition's rows, `table.chunk_rows` at a time, read as `Table.chunks` reads them."""
    if partition.rows == 0 or partition.start == partition.stop:
        yield from table.chunks()  # nothing to cut: the empty file as one pass reads it
        return
    if table.kind == "parquet":
        yield from table.parquet_chunks(range(partition.start, partition.stop))
        return
    with table.path.open("rb") as handle:
        header = handle.readline()
        handle.seek(partition.start)
        text = header + handle.read(partition.stop - partition.start)
    yield from table.csv_chunks(bytes_io.BytesIO(text))


@dataclass(frozen=True)
class PartitionJob:
    """What every partition's scoring needs; travels with each partition to its worker."""

    model: DelayModel
    table: Table
    schema: Schema
    threshold: float
    version: str
    skip_invalid: bool
    parts_dir: Path
    """Where part files go: beside the output, so it must be reachable by every worker."""


@dataclass(frozen=True)
class PartitionResult:
    """One scored partition: its part file, or why it could not be scored."""

    number: int
    rows: int
    """Rows read from the file, scored or rejected."""
    part: Path | None
    rejected: pd.DataFrame | None
    error: str | None
    """Why the partition cannot be scored (without skip_invalid): a DataError's message."""


def score_partition(job: PartitionJob, partition: Partition) -> PartitionResult:
    """Score one partition into its part file (Parquet, whatever the output type)."""
    rejected: list[pd.DataFrame] = []
    rows = 0

    def counted() -> Iterator[pd.DataFrame]:
        nonlocal rows
        for chunk in read_partition(job.table, partition):
            rows += len(chunk)
            yield chunk

    frames = score_chunks(
        job.model,
        counted(),
        job.schema,
        job.threshold,
        job.version,
        source=str(job.table.path),
        reject=rejected.append if job.skip_invalid else None,
        first_row=partition.first_row,
    )
    part = job.parts_dir / f"part-{partition.number:06d}.parquet"
    try:
        write_chunks(part, frames)
    except DataError as exc:
        return PartitionResult(partition.number, rows, None, None, str(exc))
    found = pd.concat(rejected, ignore_index=True) if rejected else None
    return PartitionResult(partition.number, rows, part, found, None)


def score_partitioned(
    model: DelayModel,
    table: Table,
    output: Path | str,
    schema: Schema,
    threshold: float,
    version: str,
    *,
    run: Mapper = local_map,
    partition_rows: int = PARTITION_ROWS,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ScoredFile:
    """Score `table` into `output` partition by partition through `run`; as `score_table` does.

    Without `skip_invalid`, the earliest partition holding a row that cannot
    be scored raises its `DataError` and nothing is written; with it, such
    rows go to `<output>.rejected.csv` with their reasons and row numbers.
    """
    output = Path(output)
    file_kind(output)
    if output.resolve() == table.path.resolve():
        raise DataError(f"{output}: output would overwrite the input")
    parts_dir = output.parent / f".{output.name}.parts-{uuid.uuid4().hex[:8]}"
    parts_dir.mkdir(parents=True)
    try:
        job = PartitionJob(model, table, schema, threshold, version, skip_invalid, parts_dir)
        results: list[PartitionResult] = run(
            partial(score_partition, job), plan(table, partition_rows)
        )
        failed = next((r.error for r in results if r.error is not None), None)
        if failed is not None:
            raise DataError(failed)
        if progress is not None:
            for result in results:
                progress(result.rows)
        rows = write_chunks(output, (pd.read_parquet(r.part) for r in results if r.part))
        if not skip_invalid:
            return ScoredFile(output, rows, 0, None)
        columns = ["row", *table.columns, "reason"]
        found = [r.rejected for r in results if r.rejected is not None]
        rejected = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
        rejected_path = io.write_csv(
            output.with_name(output.name + ".rejected.csv"), rejected.reindex(columns=columns)
        )
        return ScoredFile(output, rows, len(rejected), rejected_path)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
