"""DVC stage `train`: the train slice -> every candidate model + the search's trials table.

The search's trials run where `Runtime.engine` says (see `pipelines.mapping`); the
engine is not a stage parameter because it does not change the result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import io
from pipelines.config import Config, load_runtime
from pipelines.lgbm import prefer_passive_openmp
from pipelines.mapping import engine_mapper
from pipelines.schema import build_schema
from pipelines.split import read_splits
from pipelines.stages.entry import run_stage
from pipelines.train import train_candidates


def _train(args: argparse.Namespace, config: Config) -> None:
    params = config.params
    result = train_candidates(
        read_splits(args.splits),
        build_schema(config),
        params.train,
        params.evaluate.recall_target,
        run_trials=engine_mapper(load_runtime(), "search-trial"),
    )
    out = Path(args.models)
    for name, model in result.models.items():
        io.write_joblib(out / f"{name}.joblib", model)
    io.write_csv(args.trials, result.trials)
    print(f"train: {', '.join(result.models)}; {len(result.trials)} search trials")


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    prefer_passive_openmp()  # before LightGBM starts its threads
    return run_stage(__doc__ or "", ["splits", "models", "trials"], _train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
