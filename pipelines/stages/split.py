"""DVC stage `split`: features -> time-ordered train / valid / holdout files."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import io
from pipelines.config import Config
from pipelines.schema import build_schema
from pipelines.split import SPLIT_NAMES, split_by_time
from pipelines.stages.entry import run_stage


def _split(args: argparse.Namespace, config: Config) -> None:
    schema, params = build_schema(config), config.params.split
    splits = split_by_time(
        io.read_parquet(args.features),
        schema.time_column,
        schema.target,
        params.valid_share,
        params.holdout_share,
    )
    out = Path(args.out)
    for name in SPLIT_NAMES:
        io.write_parquet(out / f"{name}.parquet", getattr(splits, name))
    print(
        f"split: train {len(splits.train)}, valid {len(splits.valid)}, "
        f"holdout {len(splits.holdout)} rows"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_stage(__doc__ or "", ["features", "out"], _split, argv)


if __name__ == "__main__":
    raise SystemExit(main())
