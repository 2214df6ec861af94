"""DVC stage `ingest`: each source validated on its own -> the raw batch (Parquet) + a report.

The main batch (the generator, the user's file or the SQL query's rows) must
pass the whole suite on its own (row count, types, nulls, ranges, categories);
each file of labelled production rows must pass the same column checks. Only
then are the labelled rows appended. A batch that fails is quarantined with
its report and the stage exits 2 (bad input: never retried); nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import io
from pipelines.config import Config
from pipelines.errors import DataError
from pipelines.ingest import (
    IngestReport,
    SourceBatch,
    SourceFile,
    combine,
    content_hash,
    read_labelled_files,
    read_main,
)
from pipelines.quarantine import quarantine
from pipelines.schema import Schema, build_schema
from pipelines.sql import source_state
from pipelines.stages.entry import run_stage
from pipelines.validate import validate_batch


def _check(batch: SourceBatch, schema: Schema, config: Config, folder: Path) -> None:
    """Validate one source on its own; quarantine it and raise DataError when it fails."""
    labelled = batch.role == "labelled"
    report = validate_batch(batch.frame, schema, config.params.validate_, labelled=labelled)
    if report.success:
        return
    where = quarantine(folder, report.to_json(), batch.path, batch.frame)
    what = "labelled rows" if labelled else "the main batch"
    action = (
        "fix or remove the file; the main batch alone was not ingested either"
        if labelled
        else "fix the source"
    )
    raise DataError(
        f"{batch.name}: {what} failed validation, quarantined in {where}; "
        f"nothing was ingested ({action})\n{report.summary()}"
    )


def _ingest(args: argparse.Namespace, config: Config) -> None:
    schema, params = build_schema(config), config.params
    sql = params.data.sql if params.data.source == "sql" else None
    state = source_state(sql) if sql is not None else None  # what this snapshot holds
    main = read_main(params.data, params.generate, schema)
    batches = [main, *read_labelled_files(params.data, schema)]
    for batch in batches:
        _check(batch, schema, config, Path(args.quarantine))
    frame = combine(batches)
    io.write_parquet(args.out, frame)
    report = IngestReport(
        rows=len(frame),
        columns=len(frame.columns),
        source=main.name,
        content_hash=content_hash(frame),
        freshness=state,
        files=tuple(SourceFile(b.name, b.role, len(b.frame)) for b in batches),
    )
    io.write_json(args.report, report.to_json())
    labelled = sum(len(b.frame) for b in batches if b.role == "labelled")
    extra = f" + {labelled} labelled production rows" if labelled else ""
    print(f"ingest: {len(main.frame)} rows from {main.name}{extra}")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["out", "report", "quarantine"], _ingest, argv)


if __name__ == "__main__":
    raise SystemExit(main())
