"""DVC stage `validate`: the raw batch -> the validated batch, or a report and quarantine.

A failing batch stops the pipeline here (exit 2): the report names every
failed expectation and column, and the batch is copied into the quarantine
folder with its report. Beyond the column suite, the data checks of
`pipelines.checks` run here (extra columns, constant features, leakage).
Nothing downstream runs, so models stay as they were.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import io
from pipelines.config import Config
from pipelines.errors import DataError
from pipelines.quarantine import quarantine
from pipelines.schema import build_schema
from pipelines.stages.entry import run_stage
from pipelines.validate import validate_batch


def _validate(args: argparse.Namespace, config: Config) -> None:
    raw = Path(args.raw)
    frame = io.read_parquet(raw)
    report = validate_batch(
        frame, build_schema(config), config.params.validate_, Path(args.docs), checks=True
    )
    io.write_json(args.report, report.to_json())
    if not report.success:
        where = quarantine(Path(args.quarantine), report.to_json(), raw)
        raise DataError(
            f"{raw}: validation failed, batch quarantined in {where}\n{report.summary()}"
        )
    io.write_parquet(args.out, frame)
    nulls = {c: s for c, s in report.null_shares.items() if s}
    shown = "; nulls: " + ", ".join(f"{c} {s:.1%}" for c, s in nulls.items()) if nulls else ""
    print(f"validate: {report.rows} rows passed {report.evaluated} expectations{shown}")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["raw", "out", "report", "docs", "quarantine"], _validate, argv)


if __name__ == "__main__":
    raise SystemExit(main())
