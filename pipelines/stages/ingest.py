"""DVC stage `ingest`: the configured source -> the raw batch (Parquet) + a row count."""

from __future__ import annotations

import argparse

from pipelines import io
from pipelines.config import Config
from pipelines.ingest import IngestReport, load_batch
from pipelines.schema import build_schema
from pipelines.stages.entry import run_stage


def _ingest(args: argparse.Namespace, config: Config) -> None:
    schema = build_schema(config)
    params = config.params
    frame = load_batch(params.data, params.generate, schema)
    io.write_parquet(args.out, frame)
    source = "generator" if params.data.source == "generator" else str(params.data.path)
    io.write_json(args.report, IngestReport(len(frame), len(frame.columns), source).to_json())
    print(f"ingest: {len(frame)} rows from {source}")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["out", "report"], _ingest, argv)


if __name__ == "__main__":
    raise SystemExit(main())
