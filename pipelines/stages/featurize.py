"""DVC stage `featurize`: the validated batch -> model-ready features (allowed columns only)."""

from __future__ import annotations

import argparse

from pipelines import io
from pipelines.config import Config
from pipelines.features import featurize
from pipelines.schema import build_schema
from pipelines.stages.entry import run_stage


def _featurize(args: argparse.Namespace, config: Config) -> None:
    features = featurize(io.read_parquet(args.validated), build_schema(config))
    io.write_parquet(args.out, features)
    print(f"featurize: {len(features)} rows x {len(features.columns)} columns")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["validated", "out"], _featurize, argv)


if __name__ == "__main__":
    raise SystemExit(main())
