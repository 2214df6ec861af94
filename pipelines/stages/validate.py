"""DVC stage `validate`: the raw batch -> the validated batch, or a report and quarantine.

A failing batch stops the pipeline here (exit 2): the report names every
failed expectation and column, and the batch is copied into the quarantine
folder with its report. Nothing downstream runs, so models stay as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipelines import io
from pipelines.config import Config
from pipelines.ingest import DataError
from pipelines.schema import build_schema
from pipelines.stages.entry import run_stage
from pipelines.validate import ValidationReport, validate_batch


def _quarantine(raw: Path, report: ValidationReport, folder: Path) -> Path:
    digest = hashlib.md5(raw.read_bytes(), usedforsecurity=False).hexdigest()[:10]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{stamp}-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(raw, target / raw.name)
    io.write_json(target / "validation.json", report.to_json())
    return target


def _validate(args: argparse.Namespace, config: Config) -> None:
    raw = Path(args.raw)
    frame = pd.read_parquet(raw)
    report = validate_batch(frame, build_schema(config), config.params.validate_, Path(args.docs))
    io.write_json(args.report, report.to_json())
    if not report.success:
        where = _quarantine(raw, report, Path(args.quarantine))
        raise DataError(
            f"{raw}: validation failed, batch quarantined in {where}\n{report.summary()}"
        )
    io.write_parquet(args.out, frame)
    print(f"validate: {report.rows} rows passed {report.evaluated} expectations")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["raw", "out", "report", "docs", "quarantine"], _validate, argv)


if __name__ == "__main__":
    raise SystemExit(main())
